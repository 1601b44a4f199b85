package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"banger/internal/execx"
	"banger/internal/humanize"
)

// ErrShrink is returned (wrapped) when a disk would have to get smaller.
var ErrShrink = errors.New("disks can only grow")

// CloneSeed copies an image's work-seed to dst, which must not exist:
// a reflink (O(1)) where the file system supports it, else a sparse copy.
// The clone is labelled WorkLabel so the guest's root.mount finds it.
func CloneSeed(ctx context.Context, seed, dst string) error {
	if err := cloneSeed(ctx, seed, dst); err != nil {
		return fmt.Errorf("clone work seed %s: %w", seed, err)
	}
	return nil
}

func cloneSeed(ctx context.Context, seed, dst string) error {
	sb, err := readSuperblock(seed)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s: %w", dst, fs.ErrExist)
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if _, err := execx.Run(ctx, "cp", "--reflink=auto", "--sparse=always", "--", seed, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	if sb.label != WorkLabel {
		if _, err := run(ctx, nil, nil, "tune2fs", "-L", WorkLabel, tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("label clone: %w", err)
		}
	}
	// Link (not rename) so a dst created meanwhile is never replaced.
	if err := os.Link(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(tmp)
}

// Grow enlarges the ext4 image at path to size bytes: the file, then the
// file system. It refuses to shrink. It takes about the same time for any
// size: resize2fs is told to leave new inode tables for lazy init, and the
// new tables (holes in the file, so already zero) are then marked zeroed so
// the guest kernel does not write them either.
//
// A file system that was mounted since its last check needs e2fsck -f
// before resize2fs accepts it; Grow runs e2fsck -f -p then, and fails
// without changing anything if that cannot repair it automatically.
func Grow(ctx context.Context, path string, size int64) error {
	if err := grow(ctx, path, size); err != nil {
		return fmt.Errorf("grow %s: %w", path, err)
	}
	return nil
}

func grow(ctx context.Context, path string, size int64) error {
	cur, err := Size(path)
	if err != nil {
		return err
	}
	if size < cur {
		return fmt.Errorf("refusing to shrink from %s to %s: %w", humanize.Bytes(cur), humanize.Bytes(size), ErrShrink)
	}
	sb, err := readSuperblock(path)
	if err != nil {
		return err
	}
	if size-size%int64(sb.blockSize) == sb.bytes() {
		return nil // already that size
	}
	if err := os.Truncate(path, size); err != nil {
		return err
	}
	if err := resize(ctx, path); err != nil {
		// Leave the file as it was when the file system is unchanged.
		if now, rerr := readSuperblock(path); rerr == nil && now.blocksCount == sb.blocksCount {
			_ = os.Truncate(path, cur)
		}
		return err
	}
	return markZeroedItables(ctx, path)
}

// resizeEnv stops resize2fs from writing zeroed inode tables for the new
// groups when the host's ext4 module is not loaded (it checks
// /sys/fs/ext4/features/lazy_itable_init), which would cost time
// proportional to the new size.
var resizeEnv = []string{"RESIZE2FS_FORCE_LAZY_ITABLE_INIT=1"}

func resize(ctx context.Context, path string) error {
	_, err := run(ctx, resizeEnv, nil, "resize2fs", path)
	if err == nil {
		return nil
	}
	var xe *execx.Error
	if !errors.As(err, &xe) || !strings.Contains(xe.Stderr, "Please run 'e2fsck -f") {
		return err
	}
	// Mounted since its last check (or marked with errors).
	if err := fsck(ctx, path); err != nil {
		return err
	}
	_, err = run(ctx, resizeEnv, nil, "resize2fs", path)
	return err
}

// fsck runs e2fsck -f -p: preen mode fixes only what is safe to fix
// unattended and exits 4 for anything else.
func fsck(ctx context.Context, path string) error {
	_, err := run(ctx, nil, nil, "e2fsck", "-f", "-p", path)
	var xe *execx.Error
	if errors.As(err, &xe) && (xe.ExitCode == 1 || xe.ExitCode == 2) {
		return nil // errors corrected
	}
	if err != nil {
		return fmt.Errorf("check file system (repair it with: e2fsck -f %s): %w", path, err)
	}
	return nil
}
