package disk

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/guestconfig"
)

// WriteFiles creates or replaces files in the ext4 image under root (a
// directory inside the image, e.g. "/upper"; created if missing), all owned
// by root:root with exactly the given modes. Missing parent directories are
// created 0755; existing ones are left as they are unless files lists them.
// An existing file, symlink or overlayfs whiteout at a file's path is
// replaced; an existing directory where a file should go is an error.
//
// An image whose journal still holds transactions (a guest's root overlay
// cannot be unmounted at shutdown, so its last writes may live only in
// the journal) has the journal replayed first: debugfs does not replay it,
// and the kernel's replay at the next mount would overwrite what debugfs
// wrote with the blocks it holds.
func WriteFiles(ctx context.Context, image, root string, files []guestconfig.File) error {
	if err := replayJournal(ctx, image); err != nil {
		return fmt.Errorf("write files into %s: %w", image, err)
	}
	if err := writeFiles(ctx, image, root, files, nil); err != nil {
		return fmt.Errorf("write files into %s: %w", image, err)
	}
	return nil
}

// writeFiles does WriteFiles' work. known, when non-nil, is the complete
// listing of the image's directories (a fresh file system), which saves
// the read pass.
func writeFiles(ctx context.Context, image, root string, files []guestconfig.File, known map[string]map[string]entry) error {
	targets, err := resolveTargets(root, files)
	if err != nil {
		return err
	}
	t := &tree{dirs: known}
	if t.dirs == nil {
		dirs := ancestorDirs(root, targets)
		if t.dirs, err = listDirs(ctx, image, dirs); err != nil {
			return err
		}
	}
	stage, err := os.MkdirTemp(filepath.Dir(image), ".banger-stage-")
	if err != nil {
		return fmt.Errorf("stage files: %w", err)
	}
	defer os.RemoveAll(stage)

	var s script
	p := planner{s: &s, t: t, cwd: "/"}
	if err := p.ensureDir(root); err != nil {
		return err
	}
	for i, f := range files {
		var src string
		if !f.Dir && f.Symlink == "" {
			src = filepath.Join(stage, strconv.Itoa(i))
			if err := os.WriteFile(src, f.Content, 0o600); err != nil {
				return fmt.Errorf("stage %s: %w", f.Path, err)
			}
		}
		if err := p.place(targets[i], f, src); err != nil {
			return err
		}
	}
	if _, err := debugfs(ctx, image, true, &s); err != nil {
		return err
	}
	return nil
}

// resolveTargets validates files and returns their paths inside the image.
func resolveTargets(root string, files []guestconfig.File) ([]string, error) {
	if err := validatePath(root); err != nil {
		return nil, fmt.Errorf("root %w", err)
	}
	seen := make(map[string]bool, len(files))
	out := make([]string, len(files))
	for i, f := range files {
		if err := validatePath(f.Path); err != nil {
			return nil, err
		}
		if f.Path == "/" {
			return nil, fmt.Errorf("path %q: cannot replace the root directory", f.Path)
		}
		if f.Dir && (f.Symlink != "" || len(f.Content) > 0) {
			return nil, fmt.Errorf("path %s: a directory cannot have content or a symlink target", f.Path)
		}
		if f.Symlink != "" {
			if strings.ContainsAny(f.Symlink, "\x00\r\n") || len(f.Symlink) > 4095 {
				return nil, fmt.Errorf("path %s: unusable symlink target %q", f.Path, f.Symlink)
			}
			if len(f.Content) > 0 {
				return nil, fmt.Errorf("path %s: a symlink cannot have content", f.Path)
			}
		}
		if f.Mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky|os.ModeDir|os.ModeSymlink) != 0 {
			return nil, fmt.Errorf("path %s: unsupported mode %v", f.Path, f.Mode)
		}
		out[i] = path.Join(root, f.Path)
		if seen[out[i]] {
			return nil, fmt.Errorf("path %s listed twice", f.Path)
		}
		seen[out[i]] = true
	}
	return out, nil
}

// validatePath accepts clean absolute paths that a debugfs script line can
// carry (see debugfs.go).
func validatePath(p string) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return fmt.Errorf("path %q is not clean and absolute", p)
	}
	if strings.ContainsAny(p, "\x00\r\n") {
		return fmt.Errorf("path %q contains NUL or a line break", p)
	}
	if len(p) > 3072 {
		return fmt.Errorf("path %.40q... is longer than 3072 bytes", p)
	}
	for _, c := range strings.Split(p[1:], "/") {
		if len(c) > 255 {
			return fmt.Errorf("path %.40q...: component longer than 255 bytes", p)
		}
	}
	return nil
}

// ancestorDirs lists root, its ancestors and every directory above a target.
func ancestorDirs(root string, targets []string) []string {
	seen := map[string]bool{}
	var dirs []string
	add := func(p string) {
		for d := p; ; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
			if d == "/" {
				break
			}
		}
	}
	add(root)
	for _, t := range targets {
		add(path.Dir(t))
	}
	return dirs
}

// tree is what the planner knows of the image: the listing of every
// directory it may touch (nil for a missing directory).
type tree struct{ dirs map[string]map[string]entry }

func (t *tree) lookup(p string) (entry, bool) {
	e, ok := t.dirs[path.Dir(p)][path.Base(p)]
	return e, ok
}

func (t *tree) set(p string, e entry) {
	parent := path.Dir(p)
	if t.dirs[parent] == nil {
		t.dirs[parent] = map[string]entry{}
	}
	t.dirs[parent][path.Base(p)] = e
	if e.isDir() {
		if _, ok := t.dirs[p]; !ok || t.dirs[p] == nil {
			t.dirs[p] = map[string]entry{".": e}
		}
	}
}

func (t *tree) remove(p string) { delete(t.dirs[path.Dir(p)], path.Base(p)) }

// planner turns files into a debugfs script against a tree.
type planner struct {
	s   *script
	t   *tree
	cwd string
}

func (p *planner) cd(dir string) {
	if p.cwd != dir {
		p.s.cmd("cd", dir)
		p.cwd = dir
	}
}

// ensureDir creates dir and its missing ancestors (0755, root-owned).
func (p *planner) ensureDir(dir string) error {
	if dir == "/" {
		return nil
	}
	if err := p.ensureDir(path.Dir(dir)); err != nil {
		return err
	}
	e, ok := p.t.lookup(dir)
	if ok {
		if !e.isDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil
	}
	p.mkdir(dir, 0o755)
	return nil
}

func (p *planner) mkdir(dir string, perm uint32) {
	p.cd(path.Dir(dir))
	p.s.cmd("mkdir", path.Base(dir))
	p.own(dir, 0o040000|perm)
	p.t.set(dir, entry{mode: 0o040000 | perm})
}

// own makes p root-owned with the given full mode (0 keeps the mode).
// Absolute paths: debugfs reads a bare "<12>" as an inode number.
func (p *planner) own(target string, mode uint32) {
	if mode != 0 {
		p.s.cmd("sif", target, "mode", "0"+strconv.FormatUint(uint64(mode), 8))
	}
	p.s.cmd("sif", target, "uid", "0")
	p.s.cmd("sif", target, "gid", "0")
}

func (p *planner) place(target string, f guestconfig.File, src string) error {
	if err := p.ensureDir(path.Dir(target)); err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	perm := unixPerm(f.Mode)
	old, exists := p.t.lookup(target)
	if f.Dir {
		if exists && old.isDir() {
			p.own(target, 0o040000|perm)
			p.t.set(target, entry{mode: 0o040000 | perm})
			return nil
		}
		if exists {
			p.rm(target)
		}
		p.mkdir(target, perm)
		return nil
	}
	if exists && old.isDir() {
		return fmt.Errorf("%s: a directory is in the way", f.Path)
	}
	if exists {
		p.rm(target)
	}
	p.cd(path.Dir(target))
	if f.Symlink != "" {
		p.s.cmd("symlink", path.Base(target), f.Symlink)
		p.own(target, 0)
		p.t.set(target, entry{mode: 0o120777})
		return nil
	}
	p.s.cmd("write", src, path.Base(target))
	p.own(target, 0o100000|perm)
	p.t.set(target, entry{mode: 0o100000 | perm})
	return nil
}

func (p *planner) rm(target string) {
	p.s.cmd("rm", target)
	p.t.remove(target)
}

// unixPerm converts Go's mode bits to the on-disk permission bits.
func unixPerm(m os.FileMode) uint32 {
	perm := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		perm |= 0o1000
	}
	return perm
}

// replayJournal runs e2fsck on image when its superblock says the journal
// needs recovery or the file system was not cleanly unmounted (a guest's
// overlay never is: it is the upper layer of the root, and a VMM killed
// mid-write leaves bitmaps whose checksums debugfs then refuses).
func replayJournal(ctx context.Context, image string) error {
	sb, err := readSuperblock(image)
	if err != nil {
		return nil // not ext4: debugfs says so in its own words
	}
	if sb.incompat&incompatRecover == 0 && sb.state&stateValid != 0 && sb.state&stateErrors == 0 {
		return nil
	}
	return fsck(ctx, image)
}

// s_state bits.
const (
	stateValid  = 1 // cleanly unmounted
	stateErrors = 2 // errors detected
)

// ReplayJournal brings image's file system up to date with its journal
// (see replayJournal) before it is read with debugfs, which does not
// replay it: a stopped VM's overlay may hold its last writes only there.
func ReplayJournal(ctx context.Context, image string) error {
	if err := replayJournal(ctx, image); err != nil {
		return fmt.Errorf("replay the journal of %s: %w", image, err)
	}
	return nil
}
