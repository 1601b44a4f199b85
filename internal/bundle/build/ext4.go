package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"banger/internal/atomicfile"
	"banger/internal/execx"
)

const (
	mib = int64(1) << 20
	// WorkSeedSize is the work seed's apparent size; VMs grow their copy
	// with resize2fs to --disk-size.
	WorkSeedSize = 256 * mib
)

// rootfsImageSize sizes an image for a tree: content plus 15% and 128 MiB
// for ext4 metadata and the journal, rounded up to 64 MiB. The file is
// sparse, so headroom costs nothing on disk.
func rootfsImageSize(content int64) int64 {
	size := content + content*15/100 + 128*mib
	return (size + 64*mib - 1) / (64 * mib) * (64 * mib)
}

// mkfsFromDir writes an ext4 image of size bytes at out, populated from dir
// (mkfs.ext4 -d keeps owners, modes and xattrs when run as root), through a
// temporary file renamed into place.
func mkfsFromDir(ctx context.Context, r *reporter, dir, out, label string, size, inodes int64) error {
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	argv := []string{tool("mkfs.ext4"), "-F", "-q", "-L", label, "-b", "4096", "-m", "0",
		"-E", "root_owner=0:0", "-d", dir}
	if inodes > 0 {
		argv = append(argv, "-N", strconv.FormatInt(inodes, 10))
	}
	argv = append(argv, tmp)
	if _, err := r.run(ctx, execx.Cmd{Argv: argv}); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w", filepath.Base(out), err)
	}
	// mkfs.ext4 -d leaves the filesystem root 0755; /root must keep 0700.
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm() != 0o755 {
		mode := fmt.Sprintf("sif / mode 0%o", 0o40000|uint32(st.Mode().Perm()))
		if _, err := r.run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-w", "-R", mode, tmp}}); err != nil {
			return fmt.Errorf("set the root mode of %s: %w", filepath.Base(out), err)
		}
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return atomicfile.Publish(tmp, out)
}
