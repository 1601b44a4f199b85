package transfer

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Source is a local file or directory to pack, under the name it gets in
// the destination directory.
type Source struct {
	Path string
	Name string
}

// Measure checks local sources before anything is sent: each exists, a
// directory only with recursive. It returns the bytes of file content.
func Measure(srcs []Source, recursive bool) (int64, error) {
	var total int64
	for _, s := range srcs {
		st, err := os.Lstat(s.Path)
		if err != nil {
			return 0, fmt.Errorf("source %s: %w", s.Path, err)
		}
		if st.IsDir() && !recursive {
			return 0, fmt.Errorf("source %s is a directory: copy it with -r", s.Path)
		}
		err = filepath.WalkDir(s.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("source %s: %w", s.Path, err)
		}
	}
	return total, nil
}

// Pack writes srcs as one tar stream: regular files, directories and
// symlinks with their modes and modification times, owned by root (the
// VM's user). Sockets, devices and FIFOs are skipped and reported through
// skipped.
func Pack(w io.Writer, srcs []Source, skipped func(path string)) error {
	tw := tar.NewWriter(w)
	for _, s := range srcs {
		err := filepath.WalkDir(s.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(s.Path, p)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(filepath.Join(s.Name, rel))
			return packOne(tw, p, name, skipped)
		})
		if err != nil {
			return fmt.Errorf("pack %s: %w", s.Path, err)
		}
	}
	return tw.Close()
}

func packOne(tw *tar.Writer, p, name string, skipped func(string)) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	default:
		if skipped != nil {
			skipped(p)
		}
		return nil
	}
	h, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	h.Name = name
	if info.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
	h.Format = tar.FormatPAX
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// A file that grows while it is read is cut at the size in its header.
	n, err := io.Copy(tw, io.LimitReader(f, h.Size))
	if err != nil {
		return err
	}
	if n < h.Size {
		return fmt.Errorf("%s shrank while it was copied", p)
	}
	return nil
}
