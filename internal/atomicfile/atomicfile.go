// Package atomicfile replaces files so that readers, and the file system
// after a crash or power loss, see either the old content or the new one,
// never a truncated or half-written file. New content goes to a temporary
// file beside the target, is flushed to disk, renamed over the target, and
// the directory is flushed so the rename itself is durable.
//
// It does not create directories and does not lock: a read-modify-write of
// one file (known_hosts) is serialised by its owner.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Write replaces path with data, with permission bits perm.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom replaces path with what fill writes, with permission bits perm.
// When fill fails, path is untouched and the temporary file is removed.
func WriteFrom(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// Copy replaces dst with a copy of src, with permission bits perm.
func Copy(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return WriteFrom(dst, perm, func(w io.Writer) error {
		if _, err := io.Copy(w, in); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		return nil
	})
}

// File is the pending new content of a target path: an open temporary file
// beside it. Commit puts it in place; Abort (safe after Commit, so it can be
// deferred) throws it away.
type File struct {
	*os.File
	target string
	perm   fs.FileMode
	done   bool
}

// Create starts replacing path. Name() of the result is the temporary
// file, which a caller may hand to a tool to check before Commit.
func Create(path string, perm fs.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{File: tmp, target: path, perm: perm}, nil
}

// Commit flushes the temporary file, sets its permission bits and renames
// it over the target, then flushes the directory.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.target)
	}
	f.done = true
	err := f.Chmod(f.perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.target)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	if err := SyncDir(filepath.Dir(f.target)); err != nil {
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	return nil
}

// Abort removes the temporary file unless Commit already ran.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// Publish renames a finished file that a tool wrote (tmp) over path,
// flushing the file before and the directory after, so a crash leaves the
// old path or the complete new one. tmp must be in path's directory.
func Publish(tmp, path string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = f.Sync()
	f.Close()
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir flushes a directory's entries (a rename into it) to disk. File
// systems that cannot sync a directory (EINVAL, ENOTSUP) are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
