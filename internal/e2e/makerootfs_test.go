package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/testenv"
)

// TestMakeRootfsFromBaseAppliesPackages runs ./make-rootfs.sh --base-rootfs
// on a copy of the test bundle: the new rootfs has the base's content plus
// the packages of --packages. It needs root and, like `image fetch`, the
// Debian archive (apt runs on the host, in its network namespace); it boots
// nothing.
func TestMakeRootfsFromBaseAppliesPackages(t *testing.T) {
	bundle := os.Getenv("BANGER_TEST_BUNDLE")
	testenv.RequireOrSkip(t, "root and BANGER_TEST_BUNDLE (make-rootfs.sh test)", os.Geteuid() == 0 && bundle != "")
	dest := t.TempDir()
	for _, f := range []string{"bundle.json", "modules", "banger-vsock-agent", "vmlinux", "vmlinuz", "initrd.img", "packages.apt"} {
		if out, err := exec.Command("cp", "-a", "--reflink=auto", filepath.Join(bundle, f), dest).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v: %s", f, err, out)
		}
	}
	pkgs := filepath.Join(t.TempDir(), "extra.apt")
	os.WriteFile(pkgs, []byte("# small, not in the bundle\njq\n"), 0o644)
	base := filepath.Join(bundle, "rootfs-docker.ext4")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "make-rootfs.sh"), "--base-rootfs", base, "--packages", pkgs,
		"--log", filepath.Join(t.TempDir(), "build.log"))
	cmd.Env = append(os.Environ(), "RUNTIME_DIR="+dest)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("make-rootfs.sh --base-rootfs: %s\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("make-rootfs.sh: %v", err)
	}
	for _, step := range []string{"extract rootfs-docker.ext4", "install packages", "mkfs.ext4 rootfs"} {
		if !strings.Contains(string(out), step) {
			t.Errorf("make-rootfs.sh output lacks %q", step)
		}
	}
	rootfs := filepath.Join(dest, "rootfs-docker.ext4")
	for _, p := range []string{"/usr/bin/jq", "/usr/sbin/sshd", "/usr/local/bin/banger-vsock-agent"} {
		if ls, err := exec.Command("debugfs", "-R", "stat "+p, rootfs).CombinedOutput(); err != nil || !strings.Contains(string(ls), "Inode:") {
			t.Errorf("%s is not in the rebuilt rootfs: %v\n%s", p, err, ls)
		}
	}
	status, err := exec.Command("debugfs", "-R", "cat /var/lib/dpkg/status", rootfs).Output()
	if err != nil || !strings.Contains(string(status), "Package: jq\nStatus: install ok installed") {
		t.Errorf("dpkg in the rebuilt rootfs does not list jq as installed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "rootfs-docker.work-seed.ext4")); err != nil {
		t.Errorf("no work seed: %v", err)
	}
}
