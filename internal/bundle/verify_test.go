package bundle

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/bundle/cpio"
)

func elfExec(machine uint16) []byte {
	b := make([]byte, 128)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(b[16:], 2) // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], machine)
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint16(b[52:], 64)
	return b
}

// ext4Stub is just enough superblock for Ext4Label: magic and label.
func ext4Stub(label string) []byte {
	b := make([]byte, 4096)
	b[1080], b[1081] = 0x53, 0xEF
	copy(b[1024+0x78:], label)
	return b
}

func initrd(t *testing.T, withInit bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := cpio.NewWriter(zw)
	name := "init"
	if !withInit {
		name = "linuxrc"
	}
	w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeRegular | 0o755, Size: 3})
	w.Write([]byte("#!\n"))
	w.Close()
	zw.Close()
	return buf.Bytes()
}

func writeValidBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bz := make([]byte, 1024)
	copy(bz[0x202:], "HdrS")
	files := map[string][]byte{
		KernelELFName:   elfExec(62),
		KernelImageName: bz,
		InitrdName:      initrd(t, true),
		RootfsName:      ext4Stub(LabelRoot),
		WorkSeedName:    ext4Stub(LabelWork),
		PackagesName:    []byte("systemd\n"),
		AgentName:       elfExec(62),
		"modules/6.1.0-9-cloud-amd64/modules.dep": []byte("kernel/a.ko:\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if name == AgentName {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	m := &Meta{Version: CurrentVersion, KernelELF: KernelELFName, KernelImage: KernelImageName,
		KernelRelease: "6.1.0-9-cloud-amd64", Initrd: InitrdName, ModulesDir: "modules/6.1.0-9-cloud-amd64",
		Rootfs: RootfsName, WorkSeed: WorkSeedName, Packages: PackagesName, Agent: AgentName}
	if err := Save(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyAcceptsCompleteBundle(t *testing.T) {
	if ps := Verify(writeValidBundle(t)); len(ps) != 0 {
		t.Fatalf("problems in a valid bundle: %v", ps)
	}
}

func TestVerifyFindsProblems(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(dir string)
		item  string
		msg   string
	}{
		{"no bundle.json", func(d string) { os.Remove(filepath.Join(d, FileName)) }, FileName, "read runtime bundle"},
		{"kernel missing", func(d string) { os.Remove(filepath.Join(d, KernelELFName)) }, "kernel_elf", "missing"},
		{"kernel is a bzImage", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, KernelImageName))
			os.WriteFile(filepath.Join(d, KernelELFName), b, 0o644)
		}, "kernel_elf", "not an ELF"},
		{"kernel for arm64", func(d string) { os.WriteFile(filepath.Join(d, KernelELFName), elfExec(183), 0o644) }, "kernel_elf", "EM_AARCH64"},
		{"initrd without init", func(d string) { os.WriteFile(filepath.Join(d, InitrdName), initrd(t, false), 0o644) }, "initrd", "no executable /init"},
		{"initrd not gzip", func(d string) { os.WriteFile(filepath.Join(d, InitrdName), []byte("070701..."), 0o644) }, "initrd", "gzip"},
		{"rootfs not ext4", func(d string) { os.WriteFile(filepath.Join(d, RootfsName), make([]byte, 4096), 0o644) }, "rootfs", "0xEF53"},
		{"rootfs labelled as overlay", func(d string) { os.WriteFile(filepath.Join(d, RootfsName), ext4Stub(LabelOverlay), 0o644) }, "rootfs", "reserved"},
		{"work seed unlabelled", func(d string) { os.WriteFile(filepath.Join(d, WorkSeedName), ext4Stub(""), 0o644) }, "work_seed", "want \"banger-work\""},
		{"agent not executable", func(d string) { os.Chmod(filepath.Join(d, AgentName), 0o644) }, "agent", "not executable"},
		{"modules without depmod", func(d string) { os.Remove(filepath.Join(d, "modules/6.1.0-9-cloud-amd64/modules.dep")) }, "modules_dir", "modules.dep"},
		{"old version", func(d string) {
			m, _ := Load(d)
			m.Version = 0
			Save(d, m)
		}, "version", "version 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeValidBundle(t)
			c.spoil(dir)
			ps := Verify(dir)
			for _, p := range ps {
				if p.Item == c.item && strings.Contains(p.Message, c.msg) {
					if p.Fix == "" {
						t.Errorf("problem %v has no fix", p)
					}
					return
				}
			}
			t.Fatalf("want a %s problem mentioning %q, got %v", c.item, c.msg, ps)
		})
	}
}

func TestVerifyMissingDirectory(t *testing.T) {
	ps := Verify(filepath.Join(t.TempDir(), "nope"))
	if len(ps) != 1 || !strings.Contains(ps[0].Fix, "make runtime-bundle") {
		t.Fatalf("got %v", ps)
	}
}
