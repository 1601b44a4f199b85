package disk

import (
	"context"
	"fmt"
	"os"
	"path"

	"banger/internal/guestconfig"
)

// Overlay layout: the guest init mounts the disk and uses these two
// directories as overlayfs upperdir and workdir (they must share a file
// system). Guest-config files go under UpperDir.
const (
	UpperDir = "/upper"
	WorkDir  = "/work"
)

// CreateOverlay makes a new sparse ext4 overlay disk of size bytes at path
// holding /upper and /work (root-owned, 0755) and the guest-config files
// under /upper. path must not exist; on failure nothing is left behind.
func CreateOverlay(ctx context.Context, path string, size int64, files []guestconfig.File) error {
	if err := checkNewSize(size); err != nil {
		return fmt.Errorf("create overlay %s: %w", path, err)
	}
	if _, err := resolveTargets(UpperDir, files); err != nil {
		return fmt.Errorf("create overlay %s: %w", path, err)
	}
	if err := createExclusive(path, size); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	if err := fillOverlay(ctx, path, files); err != nil {
		os.Remove(path)
		return fmt.Errorf("create overlay %s: %w", path, err)
	}
	return nil
}

func fillOverlay(ctx context.Context, image string, files []guestconfig.File) error {
	if _, err := run(ctx, nil, nil, "mkfs.ext4", append(mkfsArgs(OverlayLabel), image)...); err != nil {
		return err
	}
	dirs := []guestconfig.File{
		{Path: UpperDir, Mode: 0o755, Dir: true},
		{Path: WorkDir, Mode: 0o755, Dir: true},
	}
	for _, f := range files {
		f.Path = path.Join(UpperDir, f.Path)
		dirs = append(dirs, f)
	}
	return writeFiles(ctx, image, "/", dirs, freshTree())
}

// freshTree is the root directory of a file system mke2fs just made.
func freshTree() map[string]map[string]entry {
	dir := entry{mode: 0o040755}
	return map[string]map[string]entry{
		"/": {".": dir, "..": dir, "lost+found": {mode: 0o040700}},
	}
}
