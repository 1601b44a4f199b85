// Package cpio reads and writes the "newc" (SVR4, magic 070701) cpio format
// the Linux kernel unpacks as an initramfs. It knows only what an initrd
// needs: regular files, directories, symlinks and device nodes, no hard links.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

const (
	magic      = "070701"
	headerSize = 110
	trailer    = "TRAILER!!!"
)

// Mode type bits as stored in the c_mode field.
const (
	TypeDir     = 0o040000
	TypeRegular = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	typeMask    = 0o170000
)

// Header is one archive member. Owners are always root; the kernel applies
// Mode as given.
type Header struct {
	Name     string // without a leading "/"
	Mode     uint32 // type bits | permission bits
	Size     int64  // file data or symlink target length
	DevMajor uint32 // for device nodes
	DevMinor uint32
}

// IsDir and friends classify a header by its type bits.
func (h *Header) IsDir() bool     { return h.Mode&typeMask == TypeDir }
func (h *Header) IsRegular() bool { return h.Mode&typeMask == TypeRegular }
func (h *Header) IsSymlink() bool { return h.Mode&typeMask == TypeSymlink }

// Writer writes a newc archive. Close writes the trailer.
type Writer struct {
	w      io.Writer
	off    int64
	ino    uint32
	remain int64 // bytes of the current member still to write
	pad    int64 // padding owed after the current member's data
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, ino: 1} }

// WriteHeader starts a member; for regular files and symlinks, Size bytes of
// data must follow through Write.
func (cw *Writer) WriteHeader(h *Header) error {
	if cw.remain != 0 {
		return fmt.Errorf("cpio: %d bytes missing from the previous member", cw.remain)
	}
	if err := cw.finishMember(); err != nil {
		return err
	}
	nlink := 1
	if h.IsDir() {
		nlink = 2
	}
	var rmaj, rmin uint32
	if h.Mode&typeMask == TypeChar || h.Mode&typeMask == 0o060000 {
		rmaj, rmin = h.DevMajor, h.DevMinor
	}
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		magic, cw.ino, h.Mode, 0, 0, nlink, 0, h.Size, 0, 0, rmaj, rmin, len(h.Name)+1, 0)
	cw.ino++
	if err := cw.write([]byte(hdr)); err != nil {
		return err
	}
	if err := cw.write(append([]byte(h.Name), 0)); err != nil {
		return err
	}
	if err := cw.write(make([]byte, pad4(cw.off))); err != nil {
		return err
	}
	cw.remain = h.Size
	cw.pad = pad4(h.Size)
	return nil
}

// Write writes member data.
func (cw *Writer) Write(p []byte) (int, error) {
	if int64(len(p)) > cw.remain {
		return 0, errors.New("cpio: write beyond the member's size")
	}
	n, err := cw.w.Write(p)
	cw.off += int64(n)
	cw.remain -= int64(n)
	return n, err
}

// Close writes the trailer; it does not close the underlying writer.
func (cw *Writer) Close() error {
	if cw.remain != 0 {
		return fmt.Errorf("cpio: %d bytes missing from the last member", cw.remain)
	}
	if err := cw.WriteHeader(&Header{Name: trailer}); err != nil {
		return err
	}
	return cw.finishMember()
}

func (cw *Writer) finishMember() error {
	err := cw.write(make([]byte, cw.pad))
	cw.pad = 0
	return err
}

func (cw *Writer) write(p []byte) error {
	n, err := cw.w.Write(p)
	cw.off += int64(n)
	return err
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }

// Reader reads a newc archive member by member.
type Reader struct {
	r      *bufio.Reader
	off    int64
	remain int64
	pad    int64
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Next skips the rest of the current member and returns the next header;
// io.EOF after the trailer.
func (cr *Reader) Next() (*Header, error) {
	if err := cr.skip(cr.remain + cr.pad); err != nil {
		return nil, err
	}
	cr.remain, cr.pad = 0, 0
	raw := make([]byte, headerSize)
	if err := cr.read(raw); err != nil {
		return nil, fmt.Errorf("cpio: read header: %w", err)
	}
	if string(raw[:6]) != magic {
		return nil, fmt.Errorf("cpio: bad magic %q at offset %d (want newc %s)", raw[:6], cr.off-headerSize, magic)
	}
	field := func(i int) (uint32, error) {
		v, err := strconv.ParseUint(string(raw[6+8*i:14+8*i]), 16, 32)
		return uint32(v), err
	}
	var f [13]uint32
	for i := range f {
		v, err := field(i)
		if err != nil {
			return nil, fmt.Errorf("cpio: bad header field %d: %w", i, err)
		}
		f[i] = v
	}
	name := make([]byte, f[11])
	if err := cr.read(name); err != nil {
		return nil, fmt.Errorf("cpio: read name: %w", err)
	}
	if err := cr.skip(pad4(cr.off)); err != nil {
		return nil, err
	}
	h := &Header{Name: string(name[:max(len(name)-1, 0)]), Mode: f[1], Size: int64(f[6]), DevMajor: f[9], DevMinor: f[10]}
	if h.Name == trailer {
		return nil, io.EOF
	}
	cr.remain, cr.pad = h.Size, pad4(h.Size)
	return h, nil
}

// Read reads the current member's data.
func (cr *Reader) Read(p []byte) (int, error) {
	if cr.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > cr.remain {
		p = p[:cr.remain]
	}
	n, err := cr.r.Read(p)
	cr.off += int64(n)
	cr.remain -= int64(n)
	if err == io.EOF && cr.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (cr *Reader) read(p []byte) error {
	n, err := io.ReadFull(cr.r, p)
	cr.off += int64(n)
	return err
}

func (cr *Reader) skip(n int64) error {
	m, err := io.CopyN(io.Discard, cr.r, n)
	cr.off += m
	if err != nil {
		return fmt.Errorf("cpio: truncated archive: %w", err)
	}
	return nil
}

// FileMode converts header mode bits to an fs.FileMode.
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	switch h.Mode & typeMask {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	}
	return m
}
