// Package bundletest writes small runtime bundles that bundle.Verify
// accepts, for the tests of the packages that handle bundles.
package bundletest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/bundle"
	"banger/internal/bundle/cpio"
)

// ELF is the header of an executable for machine (62 is x86-64).
func ELF(machine uint16) []byte {
	b := make([]byte, 128)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(b[16:], 2) // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], machine)
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint16(b[52:], 64)
	return b
}

// Ext4Stub is just enough superblock for Ext4Label: magic and label.
func Ext4Stub(label string) []byte {
	b := make([]byte, 4096)
	b[1080], b[1081] = 0x53, 0xEF
	copy(b[1024+0x78:], label)
	return b
}

// Initrd is a gzip cpio holding /init, or only /linuxrc.
func Initrd(t *testing.T, withInit bool) []byte {
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

// WriteValid writes into dir (created when missing) the smallest bundle
// bundle.Verify accepts, and returns dir.
func WriteValid(t *testing.T, dir string) string {
	t.Helper()
	bz := make([]byte, 1024)
	copy(bz[0x202:], "HdrS")
	files := map[string][]byte{
		bundle.KernelELFName:                      ELF(62),
		bundle.KernelImageName:                    bz,
		bundle.InitrdName:                         Initrd(t, true),
		bundle.RootfsName:                         Ext4Stub(bundle.LabelRoot),
		bundle.WorkSeedName:                       Ext4Stub(bundle.LabelWork),
		bundle.PackagesName:                       []byte("systemd\n"),
		bundle.AgentName:                          ELF(62),
		"modules/6.1.0-9-cloud-amd64/modules.dep": []byte("kernel/a.ko:\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == bundle.AgentName {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	m := &bundle.Meta{Version: bundle.CurrentVersion, KernelELF: bundle.KernelELFName, KernelImage: bundle.KernelImageName,
		KernelRelease: "6.1.0-9-cloud-amd64", Initrd: bundle.InitrdName, ModulesDir: "modules/6.1.0-9-cloud-amd64",
		Rootfs: bundle.RootfsName, WorkSeed: bundle.WorkSeedName, Packages: bundle.PackagesName, Agent: bundle.AgentName}
	if err := bundle.Save(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}
