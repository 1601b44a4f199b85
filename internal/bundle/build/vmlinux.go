package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"

	"banger/internal/execx"
)

// x86 boot protocol offsets (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offHeaderMagic   = 0x202
	offBootVersion   = 0x206
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
)

// payload compression magics, as the kernel's build writes them.
var (
	magicLZ4Legacy = []byte{0x02, 0x21, 0x4c, 0x18}
	magicGzip      = []byte{0x1f, 0x8b}
	magicXZ        = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd      = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// ExtractVMLinux cuts the compressed kernel out of an x86 bzImage and returns
// the uncompressed ELF vmlinux, which is what Firecracker boots on x86_64.
// LZ4 (Debian's choice) and gzip are decoded in Go; xz and zstd through the
// xz and zstd tools. The result is checked to be an ELF64 x86-64 executable
// of the size the kernel build recorded.
func ExtractVMLinux(ctx context.Context, bz []byte) ([]byte, error) {
	payload, err := bzImagePayload(bz)
	if err != nil {
		return nil, err
	}
	// The kernel build appends the uncompressed size (le32) to every payload.
	if len(payload) < 8 {
		return nil, errors.New("bzImage payload too short")
	}
	want := binary.LittleEndian.Uint32(payload[len(payload)-4:])
	var out []byte
	switch {
	case bytes.HasPrefix(payload, magicLZ4Legacy):
		out, err = decodeLZ4Legacy(payload[:len(payload)-4], int(want))
	case bytes.HasPrefix(payload, magicGzip):
		out, err = decodeGzip(payload)
	case bytes.HasPrefix(payload, magicXZ):
		out, err = execx.Cmd{Argv: []string{"xz", "-dc", "--single-stream"}, Stdin: payload}.Run(ctx)
	case bytes.HasPrefix(payload, magicZstd):
		out, err = execx.Cmd{Argv: []string{"zstd", "-dcq"}, Stdin: payload[:len(payload)-4]}.Run(ctx)
	default:
		return nil, fmt.Errorf("unsupported kernel payload compression (magic % x)", payload[:min(6, len(payload))])
	}
	if err != nil {
		return nil, fmt.Errorf("decompress kernel payload: %w", err)
	}
	if uint32(len(out)) != want {
		return nil, fmt.Errorf("decompressed kernel is %d bytes, the bzImage says %d", len(out), want)
	}
	if err := checkELFKernel(out); err != nil {
		return nil, err
	}
	return out, nil
}

// bzImagePayload returns the compressed kernel named by the setup header's
// payload_offset/payload_length (boot protocol 2.08+). payload_offset counts
// from the protected-mode code, which follows the (setup_sects+1) sectors of
// real-mode setup.
func bzImagePayload(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return nil, errors.New("not an x86 bzImage (no HdrS boot header)")
	}
	if v := binary.LittleEndian.Uint16(bz[offBootVersion:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x predates payload fields (need 2.08)", v)
	}
	setupSects := int(bz[offSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[offPayloadOffset:]))
	length := int(binary.LittleEndian.Uint32(bz[offPayloadLength:]))
	if start < 0 || length <= 0 || start+length > len(bz) {
		return nil, fmt.Errorf("bzImage payload %d+%d lies outside the %d-byte file", start, length, len(bz))
	}
	return bz[start : start+length], nil
}

// decodeLZ4Legacy decodes an LZ4 legacy frame: the magic, then blocks each
// prefixed by their le32 compressed size, each decoding to at most 8 MiB.
func decodeLZ4Legacy(src []byte, sizeHint int) ([]byte, error) {
	const maxBlock = 8 << 20
	out := make([]byte, 0, sizeHint)
	buf := make([]byte, maxBlock)
	p := src[len(magicLZ4Legacy):]
	for len(p) > 0 {
		if len(p) < 4 {
			return nil, errors.New("lz4: truncated block header")
		}
		n := int(binary.LittleEndian.Uint32(p))
		p = p[4:]
		if n == 0x184c2102 { // a following legacy frame: continue with it
			continue
		}
		if n <= 0 || n > len(p) {
			return nil, fmt.Errorf("lz4: block of %d bytes with %d left", n, len(p))
		}
		m, err := lz4.UncompressBlock(p[:n], buf)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		out = append(out, buf[:m]...)
		p = p[n:]
	}
	return out, nil
}

func decodeGzip(payload []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}

func checkELFKernel(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("decompressed kernel is not ELF: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return fmt.Errorf("decompressed kernel is %v %v %v, want an x86-64 ELF executable", f.Class, f.Machine, f.Type)
	}
	return nil
}
