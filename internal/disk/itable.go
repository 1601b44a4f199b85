package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// markZeroedItables sets ITABLE_ZEROED on every block group whose inode
// table is a hole in the image file. resize2fs leaves new groups' tables
// unwritten and unflagged, and the guest kernel's lazy-init thread would
// then write zeros over them: about 1.5% of the new size (1 GiB for a 64 GiB
// disk) of real allocation in a file that is meant to stay sparse. A hole
// reads as zeros, so the flag is true; tables that hold data (or sit in the
// old part of the file) are left to lazy init.
func markZeroedItables(ctx context.Context, image string) error {
	groups, err := unzeroedHoleGroups(image)
	if err != nil || len(groups) == 0 {
		return err
	}
	var s script
	for _, g := range groups {
		n := strconv.FormatUint(g.index, 10)
		s.cmd("set_bg", n, "flags", strconv.FormatUint(uint64(g.flags|bgItableZeroed), 10))
		s.cmd("set_bg", n, "checksum", "calc")
	}
	if _, err := debugfs(ctx, image, true, &s); err != nil {
		return fmt.Errorf("mark inode tables zeroed: %w", err)
	}
	return nil
}

type group struct {
	index uint64
	flags uint16
}

func unzeroedHoleGroups(image string) ([]group, error) {
	sb, err := readSuperblock(image)
	if err != nil {
		return nil, err
	}
	// Without group checksums the flag means nothing; with meta_bg the
	// descriptors are not one contiguous table.
	if sb.roCompat&(roCompatGDTCsum|roCompatMetaCsum) == 0 || sb.incompat&incompatMetaBG != 0 {
		return nil, nil
	}
	f, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := sb.groups()
	gdt := make([]byte, n*sb.descSize)
	if _, err := f.ReadAt(gdt, int64((sb.firstDataBlock+1)*sb.blockSize)); err != nil {
		return nil, fmt.Errorf("read group descriptors: %w", err)
	}
	tableBytes := int64(sb.inodesPerGroup * sb.inodeSize)
	le := binary.LittleEndian
	var out []group
	for i := uint64(0); i < n; i++ {
		d := gdt[i*sb.descSize : (i+1)*sb.descSize]
		flags := le.Uint16(d[0x12:])
		if flags&bgItableZeroed != 0 {
			continue
		}
		block := uint64(le.Uint32(d[0x8:]))
		if sb.descSize >= 64 {
			block |= uint64(le.Uint32(d[0x28:])) << 32
		}
		hole, err := isHole(f, int64(block*sb.blockSize), tableBytes)
		if err != nil {
			return nil, err
		}
		if hole {
			out = append(out, group{index: i, flags: flags})
		}
	}
	return out, nil
}

// isHole reports whether [off, off+n) of f holds no data.
func isHole(f *os.File, off, n int64) (bool, error) {
	next, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return true, nil // no data at or after off
	}
	if err != nil {
		return false, fmt.Errorf("seek data in %s: %w", f.Name(), err)
	}
	return next >= off+n, nil
}
