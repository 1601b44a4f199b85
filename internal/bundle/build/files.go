package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/execx"
)

// keyOf hashes a step's inputs (strings joined unambiguously).
func keyOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyTree copies a directory tree of files, directories and symlinks,
// keeping permission bits. Ownership is whoever runs the copy (root in a
// rootfs build).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyPlain(p, target, info.Mode().Perm())
		default:
			return fmt.Errorf("copy %s: unsupported file type %v", p, info.Mode().Type())
		}
	})
}

func copyPlain(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// linesOf returns the non-comment, non-empty lines (first field) of a
// package list.
func linesOf(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f...)
		}
	}
	return out
}

// tool returns the full path of a host tool, finding sbin tools for
// non-root users too; an unknown tool is returned as is so the error names it.
func tool(name string) string {
	if p, err := execx.LookPath(name); err == nil {
		return p
	}
	return name
}

// removeScratch deletes a scratch tree unless something is still mounted
// inside it: a killed mmdebstrap can leave /proc, /sys or /dev mounts in its
// chroot, and deleting through those would delete host files.
func removeScratch(dir string) error {
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("not removing %s: cannot check for mounts in it: %w", dir, err)
	}
	if mp := mountedUnder(dir, string(mounts)); mp != "" {
		return fmt.Errorf("not removing %s: %s is still mounted (umount it, then delete the directory)", dir, mp)
	}
	return os.RemoveAll(dir)
}

// mountedUnder returns a mount point (from mountinfo text) at or below dir,
// or "".
func mountedUnder(dir, mountinfo string) string {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, strings.TrimSuffix(dir, "/")+"/") {
			return mp
		}
	}
	return ""
}

// unescapeMountinfo undoes the octal escapes (\040 for space…) of
// /proc/self/mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
