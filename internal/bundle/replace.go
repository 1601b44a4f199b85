package bundle

import (
	"fmt"
	"os"
	"path/filepath"
)

// Replace replaces the bundle directory dest with dir using renames on one
// filesystem: dest → old, dir → dest, then old is removed. If the second
// rename fails the old bundle is put back. Files of the old bundle that VMs
// hold hard links to live on in those links.
func Replace(dir, dest string) error {
	if _, err := os.Lstat(dest); err != nil {
		if err := os.Rename(dir, dest); err != nil {
			return fmt.Errorf("install %s: %w", dest, err)
		}
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".old-")
	if err != nil {
		return fmt.Errorf("replace %s: %w", dest, err)
	}
	old := filepath.Join(tmp, "bundle")
	if err := os.Rename(dest, old); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: move the old bundle away: %w", dest, err)
	}
	if err := os.Rename(dir, dest); err != nil {
		if rerr := os.Rename(old, dest); rerr != nil {
			return fmt.Errorf("replace %s: %w (restoring the old bundle failed too: %v; it is at %s)", dest, err, rerr, old)
		}
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", dest, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove the old bundle %s: %w", tmp, err)
	}
	return nil
}
