package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlayfs marks in the upper layer (Documentation/filesystems/overlayfs.rst):
// a whiteout is a character device 0/0 and hides the lower entry of its
// name; an opaque directory carries trusted.overlay.opaque=y and hides the
// lower directory's content. Redirects and metacopy (off by default, and
// not turned on by banger's init) would make an upper entry refer to
// another lower path; a layer using them is refused rather than misread.
const (
	typeChar      = 0o020000
	xattrOpaque   = "trusted.overlay.opaque"
	xattrRedirect = "trusted.overlay.redirect"
	xattrMetacopy = "trusted.overlay.metacopy"
)

// MergeUpper applies the overlayfs upper layer of a VM's overlay disk (its
// UpperDir) to tree, a host copy of the lower layer (as ExtractDir makes
// it), so that tree ends up as the guest saw its merged root: upper files,
// symlinks and directories replace the tree's entries of the same name, a
// whiteout removes the tree's entry, an opaque directory drops the tree's
// content below it. Owners and modes come from the image; extended
// attributes, devices, fifos and sockets are not copied (as ExtractDir).
//
// skip reports upper paths ("/etc/hostname") to leave out, with
// everything below them: the tree's own entry stays. Like ExtractDir it
// writes nothing outside tree and follows no symlink in the image or in
// tree. Run it as root for other owners than the caller.
func MergeUpper(ctx context.Context, image, tree string, skip func(path string) bool) error {
	if err := mergeUpper(ctx, image, tree, skip); err != nil {
		return fmt.Errorf("apply the overlay %s: %w", image, err)
	}
	return nil
}

func mergeUpper(ctx context.Context, image, tree string, skip func(string) bool) error {
	_, all, ok, err := walkImageDir(ctx, image, UpperDir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no %s directory: not a banger overlay disk", UpperDir)
	}
	// Keep what skip allows, renumbering parents.
	var entries []imgEntry
	newIdx := make([]int, len(all))
	for i, e := range all {
		newIdx[i] = -2
		if e.parent >= 0 && newIdx[e.parent] == -2 {
			continue
		}
		if skip != nil && skip(e.rel) {
			continue
		}
		if e.parent >= 0 {
			e.parent = newIdx[e.parent]
		}
		newIdx[i] = len(entries)
		entries = append(entries, e)
	}
	whiteouts, err := findWhiteouts(ctx, image, entries)
	if err != nil {
		return err
	}
	opaque, err := findOpaque(ctx, image, entries)
	if err != nil {
		return err
	}

	stage, err := os.MkdirTemp(filepath.Dir(tree), ".banger-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	linkDir, err := stageContent(ctx, image, entries, stage)
	if err != nil {
		return err
	}
	treeFd, err := unix.Open(tree, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tree, err)
	}
	defer unix.Close(treeFd)
	stageFd, err := unix.Open(stage, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", stage, err)
	}
	defer unix.Close(stageFd)

	owned := make([]bool, len(entries))
	for i, e := range entries {
		err := func() error {
			pfd := treeFd
			if e.parent >= 0 {
				if pfd, err = openBeneath(treeFd, entries[e.parent].rel); err != nil {
					return fmt.Errorf("open %s: %w", entries[e.parent].rel, err)
				}
				defer unix.Close(pfd)
			}
			switch e.typ() {
			case typeChar:
				if whiteouts[i] {
					return removeAllAt(pfd, e.name)
				}
			case typeDir:
				var st unix.Stat_t
				err := unix.Fstatat(pfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW)
				switch {
				case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
					if opaque[i] {
						if err := emptyDirAt(pfd, e.name); err != nil {
							return err
						}
					}
				case err == nil || !errors.Is(err, unix.ENOENT):
					if err := removeAllAt(pfd, e.name); err != nil {
						return err
					}
					fallthrough
				default:
					if err := unix.Mkdirat(pfd, e.name, 0o700); err != nil {
						return err
					}
				}
				owned[i] = true
			case typeRegular:
				if err := removeAllAt(pfd, e.name); err != nil {
					return err
				}
				staged := strconv.Itoa(i)
				var st unix.Stat_t
				if err := unix.Fstatat(stageFd, staged, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					return fmt.Errorf("debugfs wrote no data: %w", err)
				}
				if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != e.size {
					return fmt.Errorf("debugfs wrote %d bytes, the image says %d", st.Size, e.size)
				}
				if err := unix.Linkat(stageFd, staged, pfd, e.name, 0); err != nil {
					return err
				}
				owned[i] = true
				return unix.Unlinkat(stageFd, staged, 0)
			case typeSymlink:
				if err := removeAllAt(pfd, e.name); err != nil {
					return err
				}
				target, err := os.Readlink(linkDir + "/<" + strconv.FormatUint(e.ino, 10) + ">")
				if err != nil {
					return err
				}
				owned[i] = true
				return unix.Symlinkat(target, pfd, e.name)
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("merge %s: %w", e.rel, err)
		}
	}
	// Owners and modes of what came from the upper layer; the tree's root
	// keeps its own.
	var set []imgEntry
	remap := make([]int, len(entries))
	for i, e := range entries {
		remap[i] = -2
		if !owned[i] {
			continue
		}
		if e.parent >= 0 {
			e.parent = remap[e.parent]
		}
		remap[i] = len(set)
		set = append(set, e)
	}
	return applyOwners(tree, nil, set)
}

// findWhiteouts marks the character devices of entries that are 0/0.
func findWhiteouts(ctx context.Context, image string, entries []imgEntry) (map[int]bool, error) {
	var s script
	var idx []int
	for i, e := range entries {
		if e.typ() == typeChar {
			s.cmd("stat", "<"+strconv.FormatUint(e.ino, 10)+">")
			idx = append(idx, i)
		}
	}
	res := map[int]bool{}
	if len(idx) == 0 {
		return res, nil
	}
	out, err := debugfs(ctx, image, false, &s)
	if err != nil {
		return nil, err
	}
	secs := sections(out)
	if len(secs) != len(idx) {
		return nil, fmt.Errorf("debugfs answered %d of %d stat requests", len(secs), len(idx))
	}
	for k, sec := range secs {
		dev, ok := deviceNumber(sec)
		if !ok {
			return nil, fmt.Errorf("%s%s: no device number in debugfs stat output", UpperDir, entries[idx[k]].rel)
		}
		res[idx[k]] = dev == "00:00"
	}
	return res, nil
}

// deviceNumber reads "Device major/minor number: MM:mm" from debugfs stat.
func deviceNumber(stat string) (string, bool) {
	for _, l := range strings.Split(stat, "\n") {
		if _, rest, ok := strings.Cut(l, "Device major/minor number: "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0], true
			}
		}
	}
	return "", false
}

// findOpaque marks the opaque directories of entries, and refuses a layer
// with redirects or metacopy files.
func findOpaque(ctx context.Context, image string, entries []imgEntry) (map[int]bool, error) {
	var s script
	var idx []int
	for i, e := range entries {
		if e.typ() == typeDir || e.typ() == typeRegular {
			s.cmd("ea_list", "<"+strconv.FormatUint(e.ino, 10)+">")
			idx = append(idx, i)
		}
	}
	res := map[int]bool{}
	if len(idx) == 0 {
		return res, nil
	}
	out, err := debugfs(ctx, image, false, &s)
	if err != nil {
		return nil, err
	}
	secs := sections(out)
	if len(secs) != len(idx) {
		return nil, fmt.Errorf("debugfs answered %d of %d ea_list requests", len(secs), len(idx))
	}
	for k, sec := range secs {
		e := entries[idx[k]]
		for _, l := range strings.Split(sec, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, xattrOpaque+" ") && strings.HasSuffix(l, `= "y"`) && e.typ() == typeDir:
				res[idx[k]] = true
			case strings.HasPrefix(l, xattrRedirect+" "), strings.HasPrefix(l, xattrMetacopy+" "):
				return nil, fmt.Errorf("%s%s uses overlayfs redirects or metacopy, which banger does not enable: refusing to guess the merged tree", UpperDir, e.rel)
			}
		}
	}
	return res, nil
}

// sections splits the output of a debugfs -f run into one string per
// echoed command.
func sections(out string) []string {
	var res []string
	var cur strings.Builder
	started := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "debugfs: ") {
			if started {
				res = append(res, cur.String())
			}
			cur.Reset()
			started = true
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	if started {
		res = append(res, cur.String())
	}
	return res
}

// removeAllAt removes name in the directory dirfd and everything below it
// without following symlinks. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(dirfd, name, 0)
	}
	if err := emptyDirAt(dirfd, name); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// emptyDirAt removes the content of the directory name in dirfd.
func emptyDirAt(dirfd int, name string) error {
	fd, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}
