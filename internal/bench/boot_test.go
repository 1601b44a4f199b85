package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRegistration(t *testing.T) {
	r, err := parseRegistration("old=/x/bundle")
	if err != nil || r.name != "old" || r.dir != "/x/bundle" {
		t.Fatalf("parseRegistration = %+v, %v", r, err)
	}
	for _, bad := range []string{"old", "=/x", "old=", ""} {
		if _, err := parseRegistration(bad); err == nil || !strings.Contains(err.Error(), "NAME=BUNDLE_DIR") {
			t.Errorf("parseRegistration(%q) = %v, want an error naming NAME=BUNDLE_DIR", bad, err)
		}
	}
}

func TestRegistrationArgsFromBundle(t *testing.T) {
	dir := t.TempDir()
	meta := `{"version":1,"kernel_elf":"vmlinux","initrd":"initrd.img","modules_dir":"modules/6.1","rootfs":"rootfs-docker.ext4","work_seed":"rootfs-docker.work-seed.ext4","packages":"packages.apt"}`
	if err := os.WriteFile(filepath.Join(dir, "bundle.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	args, err := registration{"old", dir}.args()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"image", "register", "--name", "old",
		"--rootfs", filepath.Join(dir, "rootfs-docker.ext4"),
		"--work-seed", filepath.Join(dir, "rootfs-docker.work-seed.ext4"),
		"--kernel", filepath.Join(dir, "vmlinux"),
		"--initrd", filepath.Join(dir, "initrd.img"),
		"--modules", filepath.Join(dir, "modules/6.1"),
		"--packages", filepath.Join(dir, "packages.apt")}
	if strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("args:\n got %q\nwant %q", args, want)
	}

	if _, err := (registration{"old", t.TempDir()}).args(); err == nil || !strings.Contains(err.Error(), "bundle.json") {
		t.Errorf("a directory without bundle.json: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bundle.json"), []byte(`{"version":1}`), 0o644)
	if _, err := (registration{"old", dir}).args(); err == nil || !strings.Contains(err.Error(), "no rootfs") {
		t.Errorf("a bundle without rootfs: err = %v", err)
	}
}

func TestParseMonotonicUS(t *testing.T) {
	v, err := parseMonotonicUS("10372866\n")
	if err != nil || v != 10372866 {
		t.Errorf("parseMonotonicUS = %v, %v", v, err)
	}
	for _, bad := range []string{"", "0", "-5", "n/a", "[10.3] x", "99999999999999"} {
		if _, err := parseMonotonicUS(bad); err == nil {
			t.Errorf("parseMonotonicUS(%q) accepted", bad)
		}
	}
}
