package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Image is a registered rootfs with its optional sidecar artifacts.
type Image struct {
	ID         string
	Name       string
	Managed    bool
	Rootfs     string
	WorkSeed   string
	Kernel     string
	Initrd     string
	ModulesDir string
	Packages   string
	// Init is the rootfs's init system (guestconfig.Init), "" when not
	// detected yet.
	Init      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const imageColumns = `id, name, managed, rootfs, work_seed, kernel, initrd, modules_dir, packages, init, created_at, updated_at`

func scanImage(r scanner) (Image, error) {
	var im Image
	var managed int
	var created, updated string
	if err := r.Scan(&im.ID, &im.Name, &managed, &im.Rootfs, &im.WorkSeed, &im.Kernel, &im.Initrd, &im.ModulesDir, &im.Packages, &im.Init, &created, &updated); err != nil {
		return Image{}, err
	}
	im.Managed = managed != 0
	im.CreatedAt, im.UpdatedAt = parseTime(created), parseTime(updated)
	return im, nil
}

// UpsertImage inserts im, or updates the artifacts of the image with the
// same name in place (keeping its id and creation time).
func (s *Store) UpsertImage(ctx context.Context, im *Image) error {
	now := time.Now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		existing, err := scanImage(tx.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images WHERE name = ?`, im.Name))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			im.CreatedAt, im.UpdatedAt = now, now
			_, err = tx.ExecContext(ctx, `INSERT INTO images (`+imageColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
				im.ID, im.Name, boolInt(im.Managed), im.Rootfs, im.WorkSeed, im.Kernel, im.Initrd, im.ModulesDir, im.Packages, im.Init, formatTime(now), formatTime(now))
			return err
		case err != nil:
			return err
		}
		im.ID, im.CreatedAt, im.UpdatedAt = existing.ID, existing.CreatedAt, now
		_, err = tx.ExecContext(ctx, `UPDATE images SET managed=?, rootfs=?, work_seed=?, kernel=?, initrd=?, modules_dir=?, packages=?, init=?, updated_at=? WHERE id=?`,
			boolInt(im.Managed), im.Rootfs, im.WorkSeed, im.Kernel, im.Initrd, im.ModulesDir, im.Packages, im.Init, formatTime(now), im.ID)
		return err
	})
}

// SetImageInit records the init detected for the image with id, without
// touching anything else (an image recorded before inits were detected).
func (s *Store) SetImageInit(ctx context.Context, id, init string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE images SET init=? WHERE id=?`, init, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListImages returns every image by name.
func (s *Store) ListImages(ctx context.Context) ([]Image, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+imageColumns+` FROM images ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Image
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, rows.Err()
}

// ResolveImage finds an image by exact name, exact id, or unique id prefix.
func (s *Store) ResolveImage(ctx context.Context, ref string) (Image, error) {
	ims, err := s.ListImages(ctx)
	if err != nil {
		return Image{}, err
	}
	cands := make([]refCandidate, len(ims))
	for i, im := range ims {
		cands[i] = refCandidate{im.ID, im.Name}
	}
	id, err := resolve(ref, cands)
	if err != nil {
		return Image{}, fmt.Errorf("image %w", err)
	}
	for _, im := range ims {
		if im.ID == id {
			return im, nil
		}
	}
	return Image{}, fmt.Errorf("image %q: %w", ref, ErrNotFound)
}

// DeleteImage removes an image record; it refuses while VMs use it.
func (s *Store) DeleteImage(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vms WHERE image_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("image is used by %d vm(s): %w", n, ErrConflict)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM images WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("image %s: %w", id, ErrNotFound)
		}
		return nil
	})
}
