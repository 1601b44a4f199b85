package build

import (
	"banger/internal/testenv"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// tinyELF is a minimal ELF64 x86-64 ET_EXEC header padded with text, which
// debug/elf accepts (no program or section headers).
func tinyELF(size int) []byte {
	b := make([]byte, size)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1                // ELFCLASS64, little endian, EV_CURRENT
	binary.LittleEndian.PutUint16(b[16:], 2)  // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 62) // EM_X86_64
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint16(b[52:], 64) // e_ehsize
	for i := 64; i < size; i++ {
		b[i] = byte(i % 251)
	}
	return b
}

// fakeBzImage wraps payload the way the kernel's build does: setup sectors,
// then protected-mode code with the payload at payload_offset.
func fakeBzImage(payload []byte) []byte {
	const setupSects = 3
	pm := 64 // protected-mode bytes before the payload
	bz := make([]byte, (setupSects+1)*512+pm+len(payload)+100)
	bz[0x1f1] = setupSects
	copy(bz[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(bz[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(bz[0x248:], uint32(pm))
	binary.LittleEndian.PutUint32(bz[0x24c:], uint32(len(payload)))
	copy(bz[(setupSects+1)*512+pm:], payload)
	return bz
}

func withSize(payload []byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(payload, uint32(n))
}

// lz4Legacy compresses src as an LZ4 legacy frame with small blocks, so the
// multi-block path is exercised.
func lz4Legacy(t *testing.T, src []byte, block int) []byte {
	t.Helper()
	out := append([]byte(nil), magicLZ4Legacy...)
	for off := 0; off < len(src); off += block {
		chunk := src[off:min(off+block, len(src))]
		buf := make([]byte, lz4.CompressBlockBound(len(chunk)))
		n, err := lz4.CompressBlock(chunk, buf, nil)
		if err != nil || n == 0 {
			t.Fatalf("lz4 compress: n=%d err=%v", n, err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
		out = append(out, buf[:n]...)
	}
	return out
}

func TestExtractVMLinuxLZ4(t *testing.T) {
	elf := tinyELF(300_000)
	bz := fakeBzImage(withSize(lz4Legacy(t, elf, 64*1024), len(elf)))
	got, err := ExtractVMLinux(context.Background(), bz)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, elf) {
		t.Fatalf("extracted %d bytes, not the original %d", len(got), len(elf))
	}
}

func TestExtractVMLinuxGzip(t *testing.T) {
	elf := tinyELF(50_000)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(elf)
	zw.Close()
	got, err := ExtractVMLinux(context.Background(), fakeBzImage(withSize(z.Bytes(), len(elf))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, elf) {
		t.Fatal("gzip payload not decoded to the original")
	}
}

func TestExtractVMLinuxRejects(t *testing.T) {
	elf := tinyELF(10_000)
	notELF := bytes.Repeat([]byte("x"), 10_000)
	cases := map[string]struct {
		bz   []byte
		want string
	}{
		"not a bzImage":      {bytes.Repeat([]byte{0}, 4096), "HdrS"},
		"unknown codec":      {fakeBzImage(withSize([]byte("BZh91AY&SY....."), 10)), "unsupported"},
		"size mismatch":      {fakeBzImage(withSize(lz4Legacy(t, elf, 4096), len(elf)+1)), "bzImage says"},
		"payload is not ELF": {fakeBzImage(withSize(lz4Legacy(t, notELF, 4096), len(notELF))), "not ELF"},
		"truncated lz4":      {fakeBzImage(withSize(lz4Legacy(t, elf, 4096)[:300], len(elf))), "lz4"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ExtractVMLinux(context.Background(), c.bz)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestExtractVMLinuxDebian runs against a real Debian bzImage: the one
// named by BANGER_TEST_BZIMAGE, or the test bundle's vmlinuz (whose
// vmlinux it must reproduce byte for byte).
func TestExtractVMLinuxDebian(t *testing.T) {
	p := os.Getenv("BANGER_TEST_BZIMAGE")
	want := ""
	if p == "" {
		if dir := os.Getenv("BANGER_TEST_BUNDLE"); dir != "" {
			p, want = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux")
		}
	}
	testenv.RequireOrSkip(t, "BANGER_TEST_BZIMAGE or BANGER_TEST_BUNDLE (scripts/test-bundle.sh)", p != "")
	bz, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ExtractVMLinux(context.Background(), bz)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 4 || string(out[:4]) != "\x7fELF" || out[4] != 2 {
		t.Fatalf("extracted kernel is not an ELF64 file")
	}
	if want != "" {
		ref, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ref, out) {
			t.Fatalf("extracted vmlinux (%d bytes) differs from the bundle's (%d bytes)", len(out), len(ref))
		}
	}
	t.Logf("%s: %d-byte bzImage → %d-byte ELF vmlinux", p, len(bz), len(out))
}
