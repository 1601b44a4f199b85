package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"banger/internal/atomicfile"
	"banger/internal/execx"
)

// Runner runs one e2fsprogs command and returns its stdout; a build passes
// the runner of its log (buildlog.Reporter.Run) so the commands appear there.
type Runner func(ctx context.Context, c execx.Cmd) ([]byte, error)

// MakeFromDir writes an ext4 image of size bytes at out, labelled label and
// populated from dir (mkfs.ext4 -d keeps owners, modes and xattrs when run
// as root), with the root directory's mode taken from dir. inodes > 0 sets
// the inode count. The image is written to a temporary file beside out and
// renamed over it only when complete. run may be nil.
func MakeFromDir(ctx context.Context, run Runner, dir, out, label string, size, inodes int64) error {
	if run == nil {
		run = func(ctx context.Context, c execx.Cmd) ([]byte, error) { return c.Run(ctx) }
	}
	mkfs, err := execx.LookPath("mkfs.ext4")
	if err != nil {
		return fmt.Errorf("%w (install e2fsprogs)", err)
	}
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
	argv := []string{mkfs, "-F", "-q", "-L", label, "-b", "4096", "-m", "0", "-E", "root_owner=0:0", "-d", dir}
	if inodes > 0 {
		argv = append(argv, "-N", strconv.FormatInt(inodes, 10))
	}
	if _, err := run(ctx, execx.Cmd{Argv: append(argv, tmp)}); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w", filepath.Base(out), err)
	}
	// mkfs.ext4 -d leaves the filesystem root 0755; a home (/root) keeps 0700.
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm() != 0o755 {
		debugfs, err := execx.LookPath("debugfs")
		if err != nil {
			return fmt.Errorf("%w (install e2fsprogs)", err)
		}
		mode := fmt.Sprintf("sif / mode 0%o", 0o40000|uint32(st.Mode().Perm()))
		if _, err := run(ctx, execx.Cmd{Argv: []string{debugfs, "-w", "-R", mode, tmp}}); err != nil {
			return fmt.Errorf("set the root mode of %s: %w", filepath.Base(out), err)
		}
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return atomicfile.Publish(tmp, out)
}

// TreeImageSize sizes an image for a tree of content bytes: content plus
// 15% and 128 MiB for ext4 metadata and the journal, rounded up to 64 MiB.
// The file is sparse, so headroom costs nothing on disk.
func TreeImageSize(content int64) int64 {
	const mib = 1 << 20
	size := content + content*15/100 + 128*mib
	return (size + 64*mib - 1) / (64 * mib) * (64 * mib)
}

// TreeInodes is the inode count for MakeFromDir when an image of size bytes
// holds a tree of entries entries: the default ext4 density (one inode per
// 16 KiB) unless that leaves less than twice the tree plus 16384 for
// packages installed later. 0 means the default.
func TreeInodes(size, entries int64) int64 {
	if need := entries*2 + 16384; need > size/16384 {
		return need
	}
	return 0
}
