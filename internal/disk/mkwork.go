package disk

import (
	"banger/internal/humanize"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// MakeWorkFromRootfs makes a new work disk of size bytes at dst (which must
// not exist) from the /root directory of the image rootfs, for images that
// ship no work-seed. Contents, modes and ownership are copied from the
// image; the disk's root directory takes /root's mode and owner. Special
// files (devices, fifos, sockets) under /root are not copied. An image
// without /root gives an empty disk with a 0700 root directory.
//
// The image is hostile input: the copy never follows a symlink from it and
// never writes outside its own temporary directory, and refuses crafted
// directories (duplicate or impossible names, directory loops); see
// extract.go.
func MakeWorkFromRootfs(ctx context.Context, rootfs, dst string, size int64) error {
	if err := checkNewSize(size); err != nil {
		return fmt.Errorf("make work disk %s: %w", dst, err)
	}
	if err := createExclusive(dst, size); err != nil {
		return fmt.Errorf("make work disk: %w", err)
	}
	if err := makeWork(ctx, rootfs, dst, size); err != nil {
		os.Remove(dst)
		return fmt.Errorf("make work disk %s from %s: %w", dst, rootfs, err)
	}
	return nil
}

func makeWork(ctx context.Context, rootfs, dst string, size int64) error {
	top, entries, ok, err := walkImageDir(ctx, rootfs, "/root")
	if err != nil {
		return err
	}
	if !ok {
		if _, err := run(ctx, nil, nil, "mkfs.ext4", append(mkfsArgs(WorkLabel), dst)...); err != nil {
			return err
		}
		var s script
		s.cmd("sif", "/", "mode", "040700")
		_, err := debugfs(ctx, dst, true, &s)
		return err
	}
	var total int64
	for _, e := range entries {
		if e.typ() == typeRegular {
			total += e.size
		}
	}
	if total > size {
		return fmt.Errorf("/root in the image holds %s of files, more than the %s work disk", humanize.Bytes(total), humanize.Bytes(size))
	}

	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".banger-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // everything in it was created 0700 or by debugfs, writable by us
	src, stage := filepath.Join(tmp, "root"), filepath.Join(tmp, "stage")
	for _, d := range []string{src, stage} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := extractTree(ctx, rootfs, entries, src, stage); err != nil {
		return fmt.Errorf("copy /root out of %s: %w", rootfs, err)
	}
	args := append(mkfsArgs(WorkLabel), "-d", src, dst)
	if _, err := run(ctx, nil, nil, "mkfs.ext4", args...); err != nil {
		return err
	}

	// mke2fs -d copied the contents with our uid and the modes the copy
	// was made with; set every inode to the image's owner and mode.
	var s script
	s.cmd("sif", "/", "mode", "0"+strconv.FormatUint(uint64(top.mode), 8))
	s.cmd("sif", "/", "uid", strconv.FormatUint(uint64(top.uid), 10))
	s.cmd("sif", "/", "gid", strconv.FormatUint(uint64(top.gid), 10))
	for _, e := range entries {
		switch e.typ() {
		case typeDir, typeRegular:
			s.cmd("sif", e.rel, "mode", "0"+strconv.FormatUint(uint64(e.mode), 8))
		case typeSymlink:
		default:
			continue // not copied
		}
		s.cmd("sif", e.rel, "uid", strconv.FormatUint(uint64(e.uid), 10))
		s.cmd("sif", e.rel, "gid", strconv.FormatUint(uint64(e.gid), 10))
	}
	if _, err := debugfs(ctx, dst, true, &s); err != nil {
		return fmt.Errorf("set owners: %w", err)
	}
	return nil
}
