package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// guestTree is a rootfs directory on the host, edited with guest paths
// ("/etc/ssh/sshd_config.d/x.conf"). Symlinks inside it resolve the way the
// guest would see them (absolute targets are relative to the tree), so an
// absolute link such as /lib -> /usr/lib never sends a write to the host's
// own /usr/lib.
type guestTree string

// resolve returns the host path of guest path p. Symlinks in every
// component but the last are followed; the last is followed when
// followLast is set.
func (t guestTree) resolve(p string, followLast bool) (string, error) {
	var stack []string
	pending := strings.Split(strings.Trim(p, "/"), "/")
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := filepath.Join(string(t), filepath.Join(stack...), c)
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || (len(pending) == 0 && !followLast) {
			stack = append(stack, c)
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("resolve %s in the rootfs: too many symlinks", p)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			stack = nil
		}
		pending = append(strings.Split(strings.Trim(target, "/"), "/"), pending...)
	}
	return filepath.Join(string(t), filepath.Join(stack...)), nil
}

func (t guestTree) mustResolve(p string) string {
	hp, err := t.resolve(p, false)
	if err != nil {
		return filepath.Join(string(t), p) // only used where resolve cannot fail in practice
	}
	return hp
}

// exists reports whether guest path p exists (following symlinks in-tree).
func (t guestTree) exists(p string) bool {
	hp, err := t.resolve(p, true)
	if err != nil {
		return false
	}
	_, err = os.Lstat(hp)
	return err == nil
}

// writeFile replaces guest path p (a file or a symlink) with data.
func (t guestTree) writeFile(p string, data []byte, mode fs.FileMode) error {
	hp, err := t.resolve(p, false)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return fmt.Errorf("write %s in the rootfs: %w", p, err)
	}
	if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s in the rootfs: %w", p, err)
	}
	if err := os.WriteFile(hp, data, mode); err != nil {
		return fmt.Errorf("write %s in the rootfs: %w", p, err)
	}
	return os.Chmod(hp, mode)
}

// symlink makes guest path p a symlink to target, replacing what was there.
func (t guestTree) symlink(target, p string) error {
	hp, err := t.resolve(p, false)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return err
	}
	if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("link %s in the rootfs: %w", p, err)
	}
	return os.Symlink(target, hp)
}

// removeGlob removes guest paths matching a pattern in one directory.
func (t guestTree) removeGlob(pattern string) ([]string, error) {
	dir, err := t.resolve(path.Dir(pattern), true)
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(dir, path.Base(pattern)))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			return removed, err
		}
		removed = append(removed, path.Join(path.Dir(pattern), filepath.Base(m)))
	}
	return removed, nil
}
