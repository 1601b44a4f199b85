package archive

import (
	"archive/tar"
	"banger/internal/atomicfile"
	"banger/internal/bundle/cache"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// packTime is every member's mtime, so the same tree always packs to the
// same bytes.
var packTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Pack writes the tree under dir to w as a deterministic tar.gz: members in
// lexical path order, owned by 0:0 with no user names, fixed mtimes, only
// permission bits kept. Symlinks are stored as links; device nodes, FIFOs
// and sockets are an error. Sparse files are stored in full (their holes
// compress to almost nothing); Unpack recreates the holes.
func Pack(dir string, w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	members, err := collect(dir)
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := tw.WriteHeader(m.hdr); err != nil {
			return fmt.Errorf("pack %s: %w", m.path, err)
		}
		if m.hdr.Typeflag == tar.TypeReg {
			if err := copyFile(tw, m.path, m.hdr.Size); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return zw.Close()
}

type member struct {
	path string
	hdr  *tar.Header
}

// collect lists the tree's members sorted by archive name; a directory's
// name ("d/") sorts before everything under it.
func collect(dir string) ([]member, error) {
	var ms []member
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || rel == StampName || rel == cache.KeyName {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name:    filepath.ToSlash(rel),
			Mode:    int64(fi.Mode().Perm()),
			ModTime: packTime,
			Format:  tar.FormatPAX,
		}
		switch {
		case fi.Mode().IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		default:
			return fmt.Errorf("pack %s: %v is not a file, directory or symlink", p, fi.Mode().Type())
		}
		ms = append(ms, member{p, hdr})
		return nil
	})
	sort.Slice(ms, func(i, j int) bool { return ms[i].hdr.Name < ms[j].hdr.Name })
	return ms, err
}

func copyFile(w io.Writer, p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("pack %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("pack %s: file changed size while packing", p)
	}
	return nil
}

// PackFile packs dir into the file out (written under a temporary name and
// renamed into place) and returns the archive's SHA256 (hex) and size.
func PackFile(dir, out string) (sum string, size int64, err error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", 0, fmt.Errorf("pack %s: not a directory", dir)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", 0, fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	h := sha256.New()
	var cw *countWriter
	if err := atomicfile.WriteFrom(out, 0o644, func(w io.Writer) error {
		cw = &countWriter{w: io.MultiWriter(w, h)}
		return Pack(dir, cw)
	}); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
