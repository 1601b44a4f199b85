package qemu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"

	"banger/internal/bundle/cpio"
)

// probeMarker is what the probe's init writes to the serial console. It is
// in no kernel message and not on the kernel command line, so seeing it
// proves that the guest kernel ran our init.
const probeMarker = "BANGER-KVM-PROBE-OK"

// probeInitELF returns a complete static x86-64 Linux executable that
// writes probeMarker to stdout (the kernel opens /dev/console for init),
// powers the machine off, and exits if that fails (a panic, which
// panic=-1 plus qemu's -no-reboot also turn into a qemu exit). Hand-made
// so the probe needs neither a toolchain nor busybox on the user's machine.
func probeInitELF() []byte {
	const (
		base     = 0x400000
		ehdrSize = 64
		phdrSize = 56
		codeOff  = ehdrSize + phdrSize
	)
	msg := []byte("\n" + probeMarker + "\n")
	// The instructions, with the message placed right after them.
	code := []byte{
		0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
		0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
		0x48, 0x8d, 0x35, 0, 0, 0, 0, // lea rsi, [rip+msg]   (patched)
		0xba, 0, 0, 0, 0, //             mov edx, len(msg)     (patched)
		0x0f, 0x05, //                   syscall
		0xb8, 0xa9, 0x00, 0x00, 0x00, // mov eax, 169 (reboot)
		0xbf, 0xad, 0xde, 0xe1, 0xfe, // mov edi, LINUX_REBOOT_MAGIC1
		0xbe, 0x69, 0x19, 0x12, 0x28, // mov esi, LINUX_REBOOT_MAGIC2
		0xba, 0xdc, 0xfe, 0x21, 0x43, // mov edx, LINUX_REBOOT_CMD_POWER_OFF
		0x45, 0x31, 0xd2, //             xor r10d, r10d
		0x0f, 0x05, //                   syscall
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x31, 0xff, //                   xor edi, edi
		0x0f, 0x05, //                   syscall
		0xf3, 0x90, //                   pause
		0xeb, 0xfc, //                   jmp pause
	}
	const leaEnd = 17 // offset of the instruction after the lea
	binary.LittleEndian.PutUint32(code[13:], uint32(len(code)-leaEnd))
	binary.LittleEndian.PutUint32(code[18:], uint32(len(msg)))
	body := append(code, msg...)
	size := uint64(codeOff + len(body))

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV ABI */})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(2))            // e_type: ET_EXEC
	binary.Write(&b, le, uint16(62))           // e_machine: EM_X86_64
	binary.Write(&b, le, uint32(1))            // e_version
	binary.Write(&b, le, uint64(base+codeOff)) // e_entry
	binary.Write(&b, le, uint64(ehdrSize))     // e_phoff
	binary.Write(&b, le, uint64(0))            // e_shoff
	binary.Write(&b, le, uint32(0))            // e_flags
	binary.Write(&b, le, uint16(ehdrSize))     // e_ehsize
	binary.Write(&b, le, uint16(phdrSize))     // e_phentsize
	binary.Write(&b, le, uint16(1))            // e_phnum
	binary.Write(&b, le, uint16(64))           // e_shentsize
	binary.Write(&b, le, uint16(0))            // e_shnum
	binary.Write(&b, le, uint16(0))            // e_shstrndx
	binary.Write(&b, le, uint32(1))            // p_type: PT_LOAD
	binary.Write(&b, le, uint32(5))            // p_flags: R+X
	binary.Write(&b, le, uint64(0))            // p_offset
	binary.Write(&b, le, uint64(base))         // p_vaddr
	binary.Write(&b, le, uint64(base))         // p_paddr
	binary.Write(&b, le, size)                 // p_filesz
	binary.Write(&b, le, size)                 // p_memsz
	binary.Write(&b, le, uint64(0x1000))       // p_align
	b.Write(body)
	return b.Bytes()
}

// writeInitrd writes an uncompressed newc initramfs holding /dev/console
// and init as /init.
func writeInitrd(path string, init []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create initrd: %w", err)
	}
	w := cpio.NewWriter(f)
	members := []struct {
		h    cpio.Header
		data []byte
	}{
		{cpio.Header{Name: "dev", Mode: cpio.TypeDir | 0o755}, nil},
		{cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, DevMajor: 5, DevMinor: 1}, nil},
		{cpio.Header{Name: "init", Mode: cpio.TypeRegular | 0o755, Size: int64(len(init))}, init},
	}
	for _, m := range members {
		if err := w.WriteHeader(&m.h); err != nil {
			f.Close()
			return fmt.Errorf("write initrd: %w", err)
		}
		if _, err := w.Write(m.data); err != nil {
			f.Close()
			return fmt.Errorf("write initrd: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("write initrd: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	return nil
}
