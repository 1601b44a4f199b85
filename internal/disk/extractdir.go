package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ExtractDir copies dir out of the ext4 image into dest on the host, which
// must not exist yet, with the same safety as the work-disk copy (see
// extractTree): nothing is written outside dest, no link in the image is
// followed. Owners and modes (setuid/setgid included) are set from the
// image, which needs root for other owners; devices, fifos and sockets are
// not copied. The bundle build uses it for a base rootfs given by the user.
func ExtractDir(ctx context.Context, image, dir, dest string) error {
	top, entries, ok, err := walkImageDir(ctx, image, dir)
	if err != nil {
		return fmt.Errorf("extract %s from %s: %w", dir, image, err)
	}
	if !ok {
		return fmt.Errorf("extract %s from %s: no such directory in the image", dir, image)
	}
	if err := os.Mkdir(dest, 0o700); err != nil {
		return fmt.Errorf("extract %s from %s: %w", dir, image, err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(dest), ".banger-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := extractTree(ctx, image, entries, dest, stage); err != nil {
		return fmt.Errorf("extract %s from %s: %w", dir, image, err)
	}
	if err := applyOwners(dest, &top, entries); err != nil {
		return fmt.Errorf("extract %s from %s: %w", dir, image, err)
	}
	return nil
}

// applyOwners sets the image's owner and mode on every extracted entry,
// children before their directory, acting on names relative to
// directories opened without following links; then tree's own, from top
// (unless nil).
func applyOwners(tree string, top *imgEntry, entries []imgEntry) error {
	treeFd, err := unix.Open(tree, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(treeFd)
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		t := e.typ()
		if t != typeDir && t != typeRegular && t != typeSymlink {
			continue
		}
		pfd := treeFd
		if e.parent >= 0 {
			if pfd, err = openBeneath(treeFd, entries[e.parent].rel); err != nil {
				return fmt.Errorf("open %s: %w", entries[e.parent].rel, err)
			}
		}
		err := unix.Fchownat(pfd, e.name, int(e.uid), int(e.gid), unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && t != typeSymlink {
			// After chown, which clears setuid/setgid.
			err = unix.Fchmodat(pfd, e.name, e.mode&0o7777, 0)
		}
		if pfd != treeFd {
			unix.Close(pfd)
		}
		if err != nil {
			return fmt.Errorf("set owner and mode of %s: %w", e.rel, err)
		}
	}
	if top == nil {
		return nil
	}
	if err := unix.Fchown(treeFd, int(top.uid), int(top.gid)); err != nil {
		return err
	}
	return unix.Fchmod(treeFd, top.mode&0o7777)
}
