package transfer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Unpack extracts a tar stream that came from a guest into dir. Names maps
// each top-level name the stream may contain to the name it gets in dir
// (a source copied under another name); an entry outside those names, one
// with ".." or an absolute name, or one reached through a symlink is an
// error. Modes keep their permission bits only (no set-id bits); hard
// links, devices and FIFOs are skipped and reported through skipped.
func Unpack(r io.Reader, dir string, names map[string]string, skipped func(name string)) error {
	tr := tar.NewReader(r)
	type dirMode struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMode
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the guest's tar stream: %w", err)
		}
		rel, err := mapName(h.Name, names)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := noSymlinkBetween(dir, target); err != nil {
			return err
		}
		mode := fs.FileMode(h.Mode) & fs.ModePerm
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o700); err != nil && !isDir(target) {
				return fmt.Errorf("create %s: %w", target, err)
			}
			// Applied after the contents, so a read-only directory
			// can still be filled.
			dirs = append(dirs, dirMode{target, mode, h.ModTime})
		case tar.TypeReg:
			if err := writeFile(target, tr, mode); err != nil {
				return err
			}
			os.Chtimes(target, h.ModTime, h.ModTime)
		case tar.TypeSymlink:
			if err := replaceable(target); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return fmt.Errorf("create symlink %s: %w", target, err)
			}
		default:
			if skipped != nil {
				skipped(h.Name)
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return fmt.Errorf("set mode of %s: %w", dirs[i].path, err)
		}
		os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
	}
	return nil
}

// mapName checks a guest entry name and renames its top-level component.
func mapName(name string, names map[string]string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
		return "", fmt.Errorf("the guest sent an entry named %q, outside what was asked for", name)
	}
	top, rest, _ := strings.Cut(clean, "/")
	to, ok := names[top]
	if !ok {
		return "", fmt.Errorf("the guest sent an entry named %q, outside what was asked for", name)
	}
	if rest == "" {
		return to, nil
	}
	return to + "/" + rest, nil
}

// noSymlinkBetween refuses a target whose parent directories below dir
// include a symlink: a guest could send "x -> /etc" and then "x/passwd".
func noSymlinkBetween(dir, target string) error {
	rel, err := filepath.Rel(dir, filepath.Dir(target))
	if err != nil || rel == "." {
		return err
	}
	p := dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", target, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("unpack %s: %s is not a directory (a symlink is not followed)", target, p)
		}
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// replaceable removes a file or symlink in the way of a new entry, as cp
// overwrites; a directory in the way is an error.
func replaceable(target string) error {
	st, err := os.Lstat(target)
	if err != nil {
		return nil
	}
	if st.IsDir() {
		return fmt.Errorf("cannot overwrite directory %s with a file", target)
	}
	if err := os.Remove(target); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	return nil
}

// writeFile writes a regular file without following a symlink at target.
func writeFile(target string, r io.Reader, mode fs.FileMode) error {
	if st, err := os.Lstat(target); err == nil && !st.Mode().IsRegular() {
		if err := replaceable(target); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", target, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("set mode of %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}
