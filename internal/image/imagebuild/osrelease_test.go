package imagebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/testenv"
)

func ext4Of(t *testing.T, files map[string]string, links map[string]string) string {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		mkfs = "/usr/sbin/mkfs.ext4"
	}
	_, statErr := os.Stat(mkfs)
	testenv.RequireOrSkip(t, "mkfs.ext4 and debugfs (e2fsprogs)", statErr == nil && debugfsTool() != "debugfs")
	dir := t.TempDir()
	for p, data := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644)
	}
	for p, target := range links {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.Symlink(target, filepath.Join(dir, p))
	}
	img := filepath.Join(t.TempDir(), "rootfs.ext4")
	if out, err := exec.Command(mkfs, "-q", "-d", dir, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	return img
}

func TestCheckDebianBase(t *testing.T) {
	ctx := context.Background()
	debian := ext4Of(t, map[string]string{"usr/lib/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"},
		map[string]string{"etc/os-release": "../usr/lib/os-release"})
	if err := CheckDebianBase(ctx, debian); err != nil {
		t.Errorf("debian base refused: %v", err)
	}
	ubuntu := ext4Of(t, map[string]string{"etc/os-release": "ID=ubuntu\nID_LIKE=debian\n"}, nil)
	if err := CheckDebianBase(ctx, ubuntu); err != nil {
		t.Errorf("debian derivative refused: %v", err)
	}
	void := ext4Of(t, map[string]string{"etc/os-release": "NAME=\"Void\"\nID=\"void\"\nPRETTY_NAME=\"Void Linux\"\n"}, nil)
	err := CheckDebianBase(ctx, void)
	if err == nil || !strings.Contains(err.Error(), "Void Linux") || !strings.Contains(err.Error(), "Debian-only") || !strings.Contains(err.Error(), "make rootfs-void") {
		t.Errorf("void base: err %v", err)
	}
	alpine := ext4Of(t, map[string]string{"etc/os-release": "ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"}, nil)
	if err := CheckDebianBase(ctx, alpine); err == nil || !strings.Contains(err.Error(), "ID=alpine") {
		t.Errorf("alpine base: err %v", err)
	}
	bare := ext4Of(t, map[string]string{"etc/hostname": "x\n"}, nil)
	if err := CheckDebianBase(ctx, bare); err != nil {
		t.Errorf("base without os-release refused: %v", err)
	}
}
