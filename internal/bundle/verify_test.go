package bundle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "banger/internal/bundle"
	"banger/internal/bundle/bundletest"
)

func TestVerifyAcceptsCompleteBundle(t *testing.T) {
	if ps := Verify(bundletest.WriteValid(t, t.TempDir())); len(ps) != 0 {
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
		{"kernel for arm64", func(d string) { os.WriteFile(filepath.Join(d, KernelELFName), bundletest.ELF(183), 0o644) }, "kernel_elf", "EM_AARCH64"},
		{"initrd without init", func(d string) { os.WriteFile(filepath.Join(d, InitrdName), bundletest.Initrd(t, false), 0o644) }, "initrd", "no executable /init"},
		{"initrd not gzip", func(d string) { os.WriteFile(filepath.Join(d, InitrdName), []byte("070701..."), 0o644) }, "initrd", "gzip"},
		{"rootfs not ext4", func(d string) { os.WriteFile(filepath.Join(d, RootfsName), make([]byte, 4096), 0o644) }, "rootfs", "0xEF53"},
		{"rootfs labelled as overlay", func(d string) { os.WriteFile(filepath.Join(d, RootfsName), bundletest.Ext4Stub(LabelOverlay), 0o644) }, "rootfs", "reserved"},
		{"work seed unlabelled", func(d string) { os.WriteFile(filepath.Join(d, WorkSeedName), bundletest.Ext4Stub(""), 0o644) }, "work_seed", "want \"banger-work\""},
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
			dir := bundletest.WriteValid(t, t.TempDir())
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
