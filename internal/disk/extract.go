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

// Copying a directory out of an image is done here without debugfs
// `rdump`: rdump opens each file by its host path with O_CREAT|O_TRUNC and
// ignores EEXIST on mkdir, so an image whose directory holds a symlink
// `evil -> /home/me/.bashrc` and then a second entry `evil` that is a
// regular file (ext4 does not stop a crafted image from having duplicate
// names) makes it write through the link onto the host. Instead the image
// is walked by inode number with `ls -p`; every directory on the host is
// created here, file data is dumped under names chosen here and linked
// into place with linkat (which never replaces and never follows the new
// name), and symlinks are recreated as symlinks without being followed.
// Names that could not come from a sane file system (".", "..", a slash,
// a line break, duplicates) and directories linked twice make the copy
// fail rather than be guessed at.

const (
	maxExtractEntries = 200000
	maxExtractDepth   = 128
)

// imgEntry is one inode found under the extracted directory.
type imgEntry struct {
	ino    uint64
	mode   uint32
	uid    uint32
	gid    uint32
	size   int64
	name   string
	rel    string // path below the extracted directory, "/a/b"
	parent int    // index of the parent directory entry; -1 for the top
}

func (e imgEntry) typ() uint32 { return e.mode & 0o170000 }

const (
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000
)

// walkImageDir lists dir in image and everything below it. top is dir
// itself; ok is false when dir does not exist (or is not a directory).
func walkImageDir(ctx context.Context, image, dir string) (top imgEntry, entries []imgEntry, ok bool, err error) {
	listing, err := listDirs(ctx, image, []string{dir})
	if err != nil {
		return imgEntry{}, nil, false, err
	}
	self, found := listing[dir]["."]
	if !found {
		return imgEntry{}, nil, false, nil
	}
	out, err := debugfs(ctx, image, false, scriptOf("stat", dir))
	if err != nil {
		return imgEntry{}, nil, false, err
	}
	ino, err := statInode(out)
	if err != nil {
		return imgEntry{}, nil, false, fmt.Errorf("stat %s in %s: %w", dir, image, err)
	}
	top = imgEntry{ino: ino, mode: self.mode, uid: self.uid, gid: self.gid, parent: -1}

	seenDirs := map[uint64]bool{ino: true}
	level := []int{-1}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxExtractDepth {
			return imgEntry{}, nil, false, fmt.Errorf("%s in %s is nested more than %d directories deep", dir, image, maxExtractDepth)
		}
		var s script
		for _, i := range level {
			d := top
			if i >= 0 {
				d = entries[i]
			}
			s.cmd("ls", "-p", "<"+strconv.FormatUint(d.ino, 10)+">")
		}
		out, err := debugfs(ctx, image, false, &s)
		if err != nil {
			return imgEntry{}, nil, false, fmt.Errorf("list %s: %w", image, err)
		}
		sections, err := strictListings(out, len(level))
		if err != nil {
			return imgEntry{}, nil, false, fmt.Errorf("list %s in %s: %w", dir, image, err)
		}
		var next []int
		for k, parent := range level {
			pd := top
			if parent >= 0 {
				pd = entries[parent]
			}
			sec := sections[k]
			if len(sec) == 0 || sec[0].name != "." || sec[0].ino != pd.ino {
				return imgEntry{}, nil, false, fmt.Errorf("%s%s in %s: listing of inode %d does not start with its own \".\" entry", dir, pd.rel, image, pd.ino)
			}
			names := map[string]bool{}
			for _, e := range sec {
				if e.ino == 0 && e.name == "" {
					continue // an unused slot (lost+found is preallocated with them)
				}
				if names[e.name] {
					return imgEntry{}, nil, false, fmt.Errorf("%s%s in %s holds the name %q twice", dir, pd.rel, image, e.name)
				}
				names[e.name] = true
				if e.name == "." || e.name == ".." {
					continue
				}
				if err := checkEntryName(e.name); err != nil {
					return imgEntry{}, nil, false, fmt.Errorf("%s%s in %s: %w", dir, pd.rel, image, err)
				}
				e.parent = parent
				e.rel = pd.rel + "/" + e.name
				if e.typ() == typeDir {
					if seenDirs[e.ino] {
						return imgEntry{}, nil, false, fmt.Errorf("%s%s in %s: directory inode %d is linked more than once", dir, e.rel, image, e.ino)
					}
					seenDirs[e.ino] = true
					next = append(next, len(entries))
				}
				entries = append(entries, e)
				if len(entries) > maxExtractEntries {
					return imgEntry{}, nil, false, fmt.Errorf("%s in %s has more than %d entries", dir, image, maxExtractEntries)
				}
			}
		}
		level = next
	}
	return top, entries, true, nil
}

func scriptOf(name string, args ...string) *script {
	var s script
	s.cmd(name, args...)
	return &s
}

// statInode reads "Inode: N" from debugfs stat output.
func statInode(out string) (uint64, error) {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "Inode: "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseUint(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no inode number in debugfs stat output")
}

// strictListings parses the output of n "ls -p" commands. Unlike
// parseListings it accepts no line it does not understand: a name with a
// line break or a slash in it would otherwise be misread.
func strictListings(out string, n int) ([][]imgEntry, error) {
	res := make([][]imgEntry, 0, n)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "debugfs: ") {
			res = append(res, nil)
			continue
		}
		if line == "" {
			continue
		}
		f := strings.Split(line, "/")
		if len(res) == 0 || len(f) != 8 || f[0] != "" || f[7] != "" {
			return nil, fmt.Errorf("unexpected listing line %q (a name with a slash or line break?)", line)
		}
		ino, err1 := strconv.ParseUint(f[1], 10, 64)
		mode, err2 := strconv.ParseUint(f[2], 8, 32)
		uid, err3 := strconv.ParseUint(f[3], 10, 32)
		gid, err4 := strconv.ParseUint(f[4], 10, 32)
		var size uint64
		var err5 error
		if f[6] != "" {
			size, err5 = strconv.ParseUint(f[6], 10, 63)
		}
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, fmt.Errorf("parse listing line %q: %w", line, err)
		}
		e := imgEntry{ino: ino, mode: uint32(mode), uid: uint32(uid), gid: uint32(gid), size: int64(size), name: f[5]}
		res[len(res)-1] = append(res[len(res)-1], e)
	}
	if len(res) != n {
		return nil, fmt.Errorf("debugfs listed %d of %d directories", len(res), n)
	}
	return res, nil
}

// checkEntryName refuses names a real ext4 directory cannot hold and
// names a debugfs script cannot carry.
func checkEntryName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("refusing an entry named %q", name)
	case strings.ContainsAny(name, "/\x00\r\n"):
		return fmt.Errorf("refusing the entry %q: names may not contain a slash, NUL or a line break", name)
	}
	return nil
}

// extractTree copies entries (from walkImageDir) out of image into the
// host directory tree, which must be an empty directory this process
// created; stage is another such directory on the same file system, used
// for file data on its way into tree. Directories are created 0700 and
// files keep debugfs's default mode: the caller sets the real modes and
// owners in the disk it builds, not on the host.
func extractTree(ctx context.Context, image string, entries []imgEntry, tree, stage string) error {
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

	// Entries come parents first (walkImageDir is breadth first) and the
	// children of one directory are contiguous, so each directory is
	// opened once, after it was created, and at most one is open at a time.
	cur, pfd := -2, -1
	defer func() {
		if pfd >= 0 && pfd != treeFd {
			unix.Close(pfd)
		}
	}()
	for i, e := range entries {
		if e.parent != cur {
			if pfd >= 0 && pfd != treeFd {
				unix.Close(pfd)
			}
			pfd = -1
			cur = e.parent
			if cur < 0 {
				pfd = treeFd
			} else if pfd, err = openBeneath(treeFd, entries[cur].rel); err != nil {
				return fmt.Errorf("open %s: %w", entries[cur].rel, err)
			}
		}
		switch e.typ() {
		case typeDir:
			if err := unix.Mkdirat(pfd, e.name, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", e.rel, err)
			}
		case typeRegular:
			staged := strconv.Itoa(i)
			var st unix.Stat_t
			if err := unix.Fstatat(stageFd, staged, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("copy %s: debugfs wrote no data: %w", e.rel, err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != e.size {
				return fmt.Errorf("copy %s: debugfs wrote %d bytes, the image says %d", e.rel, st.Size, e.size)
			}
			// linkat fails with EEXIST instead of replacing, and does
			// not follow a symlink at the new name.
			if err := unix.Linkat(stageFd, staged, pfd, e.name, 0); err != nil {
				return fmt.Errorf("create %s: %w", e.rel, err)
			}
			if err := unix.Unlinkat(stageFd, staged, 0); err != nil {
				return fmt.Errorf("remove staged copy of %s: %w", e.rel, err)
			}
		case typeSymlink:
			target, err := os.Readlink(filepath.Join(linkDir, "<"+strconv.FormatUint(e.ino, 10)+">"))
			if err != nil {
				return fmt.Errorf("read symlink %s: %w", e.rel, err)
			}
			if err := unix.Symlinkat(target, pfd, e.name); err != nil {
				return fmt.Errorf("create symlink %s: %w", e.rel, err)
			}
		}
		// Devices, fifos and sockets are not copied.
	}
	return nil
}

// stageContent dumps the data of entries' regular files into stage (named
// by their index) and recreates their symlinks, unfollowed, in
// stage/links (named "<inode>"), which it returns.
func stageContent(ctx context.Context, image string, entries []imgEntry, stage string) (string, error) {
	var files, links script
	linkInos := map[uint64]bool{}
	linkDir := filepath.Join(stage, "links")
	if err := os.Mkdir(linkDir, 0o700); err != nil {
		return "", err
	}
	for i, e := range entries {
		switch e.typ() {
		case typeRegular:
			files.cmd("dump", "<"+strconv.FormatUint(e.ino, 10)+">", filepath.Join(stage, strconv.Itoa(i)))
		case typeSymlink:
			if !linkInos[e.ino] {
				linkInos[e.ino] = true
				// rdump of a symlink inode only calls symlink(2) for a
				// name chosen here ("<ino>"); it writes nothing else.
				links.cmd("rdump", "<"+strconv.FormatUint(e.ino, 10)+">", linkDir)
			}
		}
	}
	for _, s := range []*script{&files, &links} {
		if s.b.Len() == 0 {
			continue
		}
		if _, err := debugfs(ctx, image, false, s); err != nil {
			return "", fmt.Errorf("copy out of %s: %w", image, err)
		}
	}
	return linkDir, nil
}

// openBeneath opens the directory rel ("/a/b") below the directory root
// one component at a time, refusing to follow a symlink at any step.
func openBeneath(root int, rel string) (int, error) {
	fd, err := unix.Dup(root)
	if err != nil {
		return -1, err
	}
	for _, name := range strings.Split(strings.TrimPrefix(rel, "/"), "/") {
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
