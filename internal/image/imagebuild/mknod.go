package imagebuild

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mknodChar makes a character device at rel inside root (its parent is
// opened through root, so no link leads out of the tree).
func mknodChar(root *os.Root, rel string, major, minor uint32) error {
	parent, err := root.Open(filepath.Dir(rel))
	if err != nil {
		return err
	}
	defer parent.Close()
	return unix.Mknodat(int(parent.Fd()), filepath.Base(rel), unix.S_IFCHR|0o666, int(unix.Mkdev(major, minor)))
}
