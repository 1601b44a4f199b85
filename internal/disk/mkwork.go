package disk

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// MakeWorkFromRootfs makes a new work disk of size bytes at dst (which must
// not exist) from the /root directory of the image rootfs, for images that
// ship no work-seed. Contents, modes and ownership are copied from the
// image; the disk's root directory takes /root's mode and owner. Special
// files (devices, fifos, sockets) under /root are not copied. An image
// without /root gives an empty disk with a 0700 root directory.
func MakeWorkFromRootfs(ctx context.Context, rootfs, dst string, size int64) error {
	if err := checkNewSize(size); err != nil {
		return fmt.Errorf("make work disk %s: %w", dst, err)
	}
	if err := createExclusive(dst, size); err != nil {
		return fmt.Errorf("make work disk: %w", err)
	}
	if err := makeWork(ctx, rootfs, dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("make work disk %s from %s: %w", dst, rootfs, err)
	}
	return nil
}

func makeWork(ctx context.Context, rootfs, dst string) error {
	top, err := listDirs(ctx, rootfs, []string{"/root"})
	if err != nil {
		return err
	}
	rootDir, ok := top["/root"]["."]
	if !ok {
		if _, err := run(ctx, nil, nil, "mkfs.ext4", append(mkfsArgs(WorkLabel), dst)...); err != nil {
			return err
		}
		var s script
		s.cmd("sif", "/", "mode", "040700")
		_, err := debugfs(ctx, dst, true, &s)
		return err
	}

	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".banger-work-")
	if err != nil {
		return err
	}
	defer removeAllForce(tmp)
	if err := rdump(ctx, rootfs, "/root", tmp); err != nil {
		return err
	}
	src := filepath.Join(tmp, "root")
	// Make the copy readable to us (it carries the image's modes, e.g. a
	// 0400 file, and we may not be root), remembering the modes.
	var rels []string
	dumped := map[string]fs.FileMode{}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, src+"/"))
		rels = append(rels, rel)
		dumped[rel] = info.Mode()
		switch {
		case d.IsDir():
			return os.Chmod(p, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			return os.Chmod(p, info.Mode().Perm()|0o400)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk copy of /root: %w", err)
	}

	dirs := []string{"/root"}
	for _, rel := range rels {
		if dumped[rel].IsDir() {
			dirs = append(dirs, "/root"+rel)
		}
	}
	orig, err := listDirs(ctx, rootfs, dirs)
	if err != nil {
		return err
	}
	args := append(mkfsArgs(WorkLabel), "-d", src, dst)
	if _, err := run(ctx, nil, nil, "mkfs.ext4", args...); err != nil {
		return err
	}

	// mke2fs -d copied the contents with our uid and the loosened modes;
	// set every inode back to the image's owner and mode.
	var s script
	s.cmd("sif", "/", "mode", "0"+strconv.FormatUint(uint64(rootDir.mode), 8))
	s.cmd("sif", "/", "uid", strconv.FormatUint(uint64(rootDir.uid), 10))
	s.cmd("sif", "/", "gid", strconv.FormatUint(uint64(rootDir.gid), 10))
	for _, rel := range rels {
		if strings.ContainsAny(rel, "\r\n") {
			continue // cannot be named in a debugfs script; keeps our uid
		}
		e, ok := orig[path.Join("/root", path.Dir(rel))][path.Base(rel)]
		if !ok {
			e = entry{mode: unixMode(dumped[rel])}
		}
		if e.mode&0o170000 != 0o120000 {
			s.cmd("sif", rel, "mode", "0"+strconv.FormatUint(uint64(e.mode), 8))
		}
		s.cmd("sif", rel, "uid", strconv.FormatUint(uint64(e.uid), 10))
		s.cmd("sif", rel, "gid", strconv.FormatUint(uint64(e.gid), 10))
	}
	if _, err := debugfs(ctx, dst, true, &s); err != nil {
		return fmt.Errorf("set owners: %w", err)
	}
	return nil
}

// rdump copies dir out of image into the host directory into. debugfs
// complains on stderr about every chown it may not do as a non-root user;
// those lines are expected (ownership is restored later from the image).
func rdump(ctx context.Context, image, dir, into string) error {
	_, stderr, err := output(ctx, nil, nil, "debugfs", "-c", "-R", "rdump "+quote(dir)+" "+quote(into), image)
	if err != nil {
		return fmt.Errorf("copy %s out of %s: %w", dir, image, err)
	}
	var errs []string
	for _, l := range debugfsErrors(string(stderr)) {
		if !strings.Contains(l, "while changing ownership") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("copy %s out of %s: debugfs: %s", dir, image, strings.Join(errs, "; "))
	}
	return nil
}

// unixMode converts a Go file mode to the on-disk type and permission bits.
func unixMode(m fs.FileMode) uint32 {
	t := uint32(0o100000)
	switch {
	case m.IsDir():
		t = 0o040000
	case m&fs.ModeSymlink != 0:
		t = 0o120000
	}
	return t | unixPerm(m)
}

// removeAllForce removes a tree that may contain directories without
// write permission (copied modes).
func removeAllForce(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
