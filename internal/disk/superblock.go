package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

var errNotExt4 = errors.New("not an ext4 image")

// Feature bits this package looks at (ext4 on-disk format).
const (
	incompatRecover  = 0x4
	incompatMetaBG   = 0x10
	incompat64bit    = 0x80
	roCompatGDTCsum  = 0x10
	roCompatMetaCsum = 0x400

	bgInodeUninit  = 0x1
	bgItableZeroed = 0x4
)

// superblock holds the few ext4 superblock fields banger needs.
type superblock struct {
	blocksCount    uint64
	blockSize      uint64
	firstDataBlock uint64
	blocksPerGroup uint64
	inodesPerGroup uint64
	inodeSize      uint64
	descSize       uint64
	incompat       uint32
	roCompat       uint32
	state          uint16 // s_state: 1 cleanly unmounted, 2 errors detected
	label          string
}

func (s superblock) bytes() int64 { return int64(s.blocksCount * s.blockSize) }

func (s superblock) groups() uint64 {
	return (s.blocksCount - s.firstDataBlock + s.blocksPerGroup - 1) / s.blocksPerGroup
}

func readSuperblock(path string) (superblock, error) {
	f, err := os.Open(path)
	if err != nil {
		return superblock{}, fmt.Errorf("read superblock: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	if _, err := f.ReadAt(buf, 1024); err != nil {
		if errors.Is(err, io.EOF) {
			return superblock{}, fmt.Errorf("%s: %w (too short)", path, errNotExt4)
		}
		return superblock{}, fmt.Errorf("read superblock of %s: %w", path, err)
	}
	return parseSuperblock(path, buf)
}

func parseSuperblock(path string, b []byte) (superblock, error) {
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != 0xEF53 {
		return superblock{}, fmt.Errorf("%s: %w (no ext4 magic)", path, errNotExt4)
	}
	s := superblock{
		blocksCount:    uint64(le.Uint32(b[0x4:])),
		firstDataBlock: uint64(le.Uint32(b[0x14:])),
		blocksPerGroup: uint64(le.Uint32(b[0x20:])),
		inodesPerGroup: uint64(le.Uint32(b[0x28:])),
		inodeSize:      uint64(le.Uint16(b[0x58:])),
		incompat:       le.Uint32(b[0x60:]),
		roCompat:       le.Uint32(b[0x64:]),
		state:          le.Uint16(b[0x3A:]),
		descSize:       32,
		label:          string(bytes.TrimRight(b[0x78:0x88], "\x00")),
	}
	logBS := le.Uint32(b[0x18:])
	if logBS > 6 {
		return superblock{}, fmt.Errorf("%s: implausible block size 2^%d KiB", path, logBS)
	}
	s.blockSize = 1024 << logBS
	if s.incompat&incompat64bit != 0 {
		s.blocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		if d := uint64(le.Uint16(b[0xFE:])); d >= 32 {
			s.descSize = d
		}
	}
	if s.inodeSize == 0 {
		s.inodeSize = 128 // revision 0 file systems
	}
	if s.blocksPerGroup == 0 || s.blocksCount == 0 {
		return superblock{}, fmt.Errorf("%s: superblock has zero blocks", path)
	}
	return s, nil
}
