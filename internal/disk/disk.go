// Package disk owns banger's ext4 image files: the per-VM overlay disk, the
// persistent work disk (cloned from a seed or made from an image's /root,
// grown on request) and the injection of guest-config files into them.
//
// Everything goes through e2fsprogs (mkfs.ext4, debugfs, resize2fs, e2fsck,
// tune2fs) run by internal/execx on the image file itself. The package never
// mounts anything, never needs root and never writes to a base image: files
// written into an image are owned by root with exact modes whatever uid runs
// banger, because debugfs sets the inode fields directly.
//
// Callers must hold the VM's lock and keep the VM stopped while they modify
// its disks: e2fsprogs on an image a running guest has mounted corrupts it.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"banger/internal/execx"
	"banger/internal/humanize"
)

// Labels of the two per-VM disks. The guest init finds the overlay and
// root.mount finds the work disk by these.
const (
	OverlayLabel = "banger-ovl"
	WorkLabel    = "banger-work"
)

// Tools lists the e2fsprogs commands this package runs.
var Tools = []string{"mkfs.ext4", "debugfs", "resize2fs", "e2fsck", "tune2fs"}

// CheckTools reports the e2fsprogs commands missing from PATH and the sbin
// directories, for doctor.
func CheckTools() error {
	var missing []string
	for _, t := range Tools {
		if _, err := execx.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %v: install e2fsprogs", missing)
	}
	return nil
}

// run runs an e2fsprogs tool found through execx.LookPath, so a non-root
// PATH without /usr/sbin still works.
func run(ctx context.Context, env []string, stdin []byte, tool string, args ...string) ([]byte, error) {
	out, _, err := output(ctx, env, stdin, tool, args...)
	return out, err
}

// output is run that also returns stderr.
func output(ctx context.Context, env []string, stdin []byte, tool string, args ...string) (stdout, stderr []byte, err error) {
	p, err := execx.LookPath(tool)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (install e2fsprogs)", err)
	}
	return execx.Cmd{Argv: append([]string{p}, args...), Env: env, Stdin: stdin}.Output(ctx)
}

// Size returns the apparent size of an image file in bytes.
func Size(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("disk size: %w", err)
	}
	return st.Size(), nil
}

// Usage returns an image file's apparent size and the bytes actually
// allocated to it on the host (smaller for a sparse file).
func Usage(path string) (apparent, allocated int64, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("disk usage: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return st.Size(), st.Size(), nil
	}
	return st.Size(), sys.Blocks * 512, nil
}

// IsExt4 reports whether path holds an ext2/3/4 superblock (magic 0xEF53 at
// byte 1080).
func IsExt4(path string) (bool, error) {
	_, err := readSuperblock(path)
	if errors.Is(err, errNotExt4) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Label returns the volume label of the ext4 image at path.
func Label(path string) (string, error) {
	sb, err := readSuperblock(path)
	if err != nil {
		return "", err
	}
	return sb.label, nil
}

// createExclusive makes an empty file that must not exist yet, so a disk
// that belongs to a VM is never clobbered by a create.
func createExclusive(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("size %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// mkfsArgs are the options every banger ext4 image is made with. On a
// sparse regular file mke2fs punches the whole range and, since that reads
// back as zeros, marks every inode table zeroed: no table writes now and no
// lazy-init writes in the guest later. The journal is kept (it costs nothing
// here, see BenchmarkCreateOverlay) because guests are killed uncleanly.
func mkfsArgs(label string) []string {
	return []string{"-q", "-F", "-t", "ext4", "-b", "4096", "-L", label,
		"-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0"}
}

// MinSize is the smallest disk banger makes; smaller file systems get
// journals too small to be worth having.
const MinSize = 64 << 20

func checkNewSize(size int64) error {
	if size < MinSize {
		return fmt.Errorf("disk size %s is below the minimum %s", humanize.Bytes(size), humanize.Bytes(MinSize))
	}
	if size%4096 != 0 {
		return fmt.Errorf("disk size %d is not a multiple of 4096 bytes", size)
	}
	return nil
}
