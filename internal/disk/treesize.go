package disk

import (
	"io/fs"
	"path/filepath"
)

// TreeSize estimates the bytes a host tree occupies in 4 KiB blocks and
// counts its entries, for sizing an ext4 image (and its inode table) that
// `mkfs.ext4 -d` fills from the tree.
func TreeSize(dir string) (bytes, entries int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := int64(4096)
		if info.Mode().IsRegular() {
			size = (info.Size() + 4095) / 4096 * 4096
		}
		bytes += size
		return nil
	})
	return bytes, entries, err
}
