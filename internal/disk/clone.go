package disk

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"banger/internal/execx"
)

// CloneFile copies the disk image src to dst, which must not exist: a
// reflink (constant time, whatever the size) where the file system allows
// it, else a sparse copy that allocates only the blocks src has. The copy
// is 0600; it appears at dst only once complete.
func CloneFile(ctx context.Context, src, dst string) error {
	if err := cloneFile(ctx, src, dst); err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	return nil
}

func cloneFile(ctx context.Context, src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s: %w", dst, fs.ErrExist)
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if _, err := execx.Run(ctx, "cp", "--reflink=auto", "--sparse=always", "--", src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	// Link (not rename) so a dst created meanwhile is never replaced.
	if err := os.Link(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(tmp)
}
