package qemu

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/bundle/cpio"
)

// The probe init is never run on the host (it powers the machine off); its
// structure is checked here and its behaviour by TestProbeInitBootsUnderTCG.
func TestProbeInitELF(t *testing.T) {
	img := probeInitELF()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Fatalf("not a static x86-64 executable: %v %v %v", f.Class, f.Machine, f.Type)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Progs[0].Flags != elf.PF_R|elf.PF_X {
		t.Fatalf("program headers: %+v", f.Progs)
	}
	p := f.Progs[0]
	if p.Filesz != uint64(len(img)) || f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Filesz {
		t.Fatalf("entry %#x outside the segment %#x+%d (file %d bytes)", f.Entry, p.Vaddr, p.Filesz, len(img))
	}
	// Follow the write(2) arguments the code sets up: the rip-relative
	// buffer and the length must be exactly the marker line.
	entry := int(f.Entry - p.Vaddr)
	code := img[entry:]
	if !bytes.Equal(code[10:13], []byte{0x48, 0x8d, 0x35}) || code[17] != 0xba {
		t.Fatalf("unexpected instruction layout: % x", code[:22])
	}
	msgOff := entry + 17 + int(int32(binary.LittleEndian.Uint32(code[13:])))
	msgLen := int(binary.LittleEndian.Uint32(code[18:]))
	if want := "\n" + probeMarker + "\n"; msgOff+msgLen > len(img) || string(img[msgOff:msgOff+msgLen]) != want {
		t.Fatalf("write(2) would print %q", img[msgOff:min(len(img), msgOff+msgLen)])
	}
}

func TestWriteInitrd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "initrd.cpio")
	init := []byte("#!fake init\n")
	if err := writeInitrd(path, init); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := cpio.NewReader(fh)
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
		switch h.Name {
		case "dev/console":
			if h.Mode != cpio.TypeChar|0o600 || h.DevMajor != 5 || h.DevMinor != 1 {
				t.Errorf("dev/console = %+v", h)
			}
		case "init":
			b, _ := io.ReadAll(r)
			if h.Mode != cpio.TypeRegular|0o755 || !bytes.Equal(b, init) {
				t.Errorf("init = %+v %q", h, b)
			}
		}
	}
	if len(got) != 3 || got[0] != "dev" || got[1] != "dev/console" || got[2] != "init" {
		t.Fatalf("members = %v", got)
	}
}
