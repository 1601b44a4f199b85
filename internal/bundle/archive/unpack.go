package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Stats counts what Unpack extracted.
type Stats struct {
	Files, Dirs, Symlinks, Hardlinks int
	Bytes                            int64 // regular file content
}

// maxLinkHops bounds symlink chains when checking containment (Linux's own
// limit is 40).
const maxLinkHops = 40

// Unpack extracts a gzip-compressed tar from r into dir, which must exist
// and should be empty. It refuses hostile archives: absolute names, names
// with "..", duplicate names, device nodes and FIFOs, symlinks that resolve
// outside dir (also through other symlinks) and hard links to anything but
// a file extracted earlier. All writes go through an os.Root, so even a
// missed case cannot write outside dir. Runs of zero blocks in regular files
// are written as holes, so sparse ext4 images stay sparse. Owners and
// timestamps are not restored.
func Unpack(r io.Reader, dir string) (Stats, error) {
	var st Stats
	zr, err := gzip.NewReader(r)
	if err != nil {
		return st, fmt.Errorf("read archive: not gzip: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, fmt.Errorf("open unpack directory: %w", err)
	}
	defer root.Close()

	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirModes []dirMode
	var links []string
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read archive: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return st, err
		}
		if name == "." {
			if hdr.Typeflag != tar.TypeDir {
				return st, fmt.Errorf("archive entry %q: the archive root must be a directory", hdr.Name)
			}
			continue
		}
		if hdr.Typeflag != tar.TypeDir {
			if _, err := root.Lstat(name); err == nil {
				return st, fmt.Errorf("archive entry %q: duplicate name", hdr.Name)
			}
		}
		if parent := path.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return st, fmt.Errorf("archive entry %q: create parent: %w", hdr.Name, err)
			}
		}
		perm := fs.FileMode(hdr.Mode) & 0o777
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return st, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			dirModes = append(dirModes, dirMode{name, perm | 0o700})
			st.Dirs++
		case tar.TypeReg, tar.TypeGNUSparse:
			n, err := writeFile(root, name, perm, tr)
			if err != nil {
				return st, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			st.Files++
			st.Bytes += n
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, hdr.Linkname); err != nil {
				return st, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return st, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			links = append(links, name)
			st.Symlinks++
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil {
				return st, fmt.Errorf("archive entry %q: hard link: %w", hdr.Name, err)
			}
			fi, err := root.Lstat(target)
			if err != nil || !fi.Mode().IsRegular() {
				return st, fmt.Errorf("archive entry %q: hard link to %q, which is not a file earlier in the archive", hdr.Name, hdr.Linkname)
			}
			if err := root.Link(target, name); err != nil {
				return st, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			st.Hardlinks++
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return st, fmt.Errorf("archive entry %q: device nodes and FIFOs are not allowed in a runtime bundle", hdr.Name)
		default:
			return st, fmt.Errorf("archive entry %q: unsupported tar entry type %q", hdr.Name, hdr.Typeflag)
		}
	}
	// Drain the gzip stream so a corrupt tail (bad CRC) is noticed.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return st, fmt.Errorf("read archive: %w", err)
	}
	for _, l := range links {
		if err := checkContained(root, l); err != nil {
			return st, fmt.Errorf("archive entry %q: %w", l, err)
		}
	}
	for i := len(dirModes) - 1; i >= 0; i-- {
		if err := root.Chmod(dirModes[i].name, dirModes[i].mode); err != nil {
			return st, fmt.Errorf("archive entry %q: %w", dirModes[i].name, err)
		}
	}
	return st, nil
}

// cleanName turns an archive name into a clean relative path, rejecting
// absolute names and any ".." component.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("archive entry with an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("archive entry %q: absolute path", name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("archive entry %q: path with \"..\"", name)
		}
	}
	return path.Clean(name), nil
}

// checkLinkTarget rejects symlink targets that are absolute or lexically
// leave the archive root.
func checkLinkTarget(name, target string) error {
	if target == "" || strings.HasPrefix(target, "/") {
		return fmt.Errorf("symlink to %q: must be a relative path inside the bundle", target)
	}
	joined := path.Join(path.Dir(name), target)
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("symlink to %q points outside the bundle", target)
	}
	return nil
}

// checkContained resolves name component by component, following symlinks
// the way the kernel would, and fails if the walk ever leaves the root. This
// catches chains that each look harmless on their own.
func checkContained(root *os.Root, name string) error {
	var stack []string
	pending := strings.Split(name, "/")
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return errors.New("symlink resolves outside the bundle")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		cur := path.Join(append(append([]string(nil), stack...), c)...)
		fi, err := root.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			stack = append(stack, c) // a directory, a file, or dangling: lexical from here
			continue
		}
		if hops++; hops > maxLinkHops {
			return errors.New("too many levels of symlinks")
		}
		target, err := root.Readlink(cur)
		if err != nil {
			return err
		}
		if strings.HasPrefix(target, "/") {
			return fmt.Errorf("symlink %s to absolute path %q", cur, target)
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return nil
}

// writeFile writes r to name, leaving holes for 4 KiB blocks of zeros.
func writeFile(root *os.Root, name string, perm fs.FileMode, r io.Reader) (int64, error) {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := copySparse(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

const holeBlock = 4096

func copySparse(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 256*holeBlock)
	zero := make([]byte, holeBlock)
	var total int64
	for {
		n, rerr := fill(r, buf)
		for off := 0; off < n; off += holeBlock {
			blk := buf[off:min(off+holeBlock, n)]
			if len(blk) == holeBlock && bytes.Equal(blk, zero) {
				if _, err := f.Seek(holeBlock, io.SeekCurrent); err != nil {
					return total, err
				}
			} else if _, err := f.Write(blk); err != nil {
				return total, err
			}
			total += int64(len(blk))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return total, rerr
		}
	}
	// A trailing hole needs the size set explicitly.
	return total, f.Truncate(total)
}

// fill reads until buf is full or the reader ends; unlike io.ReadFull it
// returns io.EOF (only) for a clean end, so a reader's own
// io.ErrUnexpectedEOF (a truncated archive) stays an error.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
