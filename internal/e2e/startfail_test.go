package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFailedStartIsRecordedOnQemu: a start whose guest kernel panics (its
// initrd was replaced by junk) fails, leaves the VM stopped with the panic
// in its last error and nothing held, and the VM starts once the initrd is
// good again.
func TestFailedStartIsRecordedOnQemu(t *testing.T) {
	e := newVMEnv(t)
	bundle := os.Getenv("BANGER_TEST_BUNDLE")
	good, err := os.ReadFile(filepath.Join(bundle, "initrd.img"))
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.img")
	if err := os.WriteFile(initrd, good, 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("image", "register", "--name", "e2e-own-initrd", "--initrd", initrd,
		"--rootfs", filepath.Join(bundle, "rootfs-docker.ext4"), "--work-seed", filepath.Join(bundle, "rootfs-docker.work-seed.ext4"))
	// The VM need not boot before the test: it is created without waiting
	// and killed, which leaves it stopped.
	e.must("vm", "create", "--name", "e2e-a", "--image", "e2e-own-initrd", "--no-wait")
	e.must("vm", "kill", "--signal", "KILL", "e2e-a")
	if !eventually(30*time.Second, func() bool { return e.vm(t, "e2e-a").State == "stopped" }) {
		t.Fatalf("not stopped after kill: %+v", e.vm(t, "e2e-a"))
	}

	if err := os.WriteFile(initrd, []byte("this is not an initramfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("vm", "start", "e2e-a")
	if r.code == 0 {
		t.Fatalf("start with a junk initrd succeeded: %s", r)
	}
	contains(t, r, "guest kernel panicked", "Kernel panic - not syncing")
	var v struct {
		State     string `json:"state"`
		PID       int    `json:"pid"`
		TAP       string `json:"tap"`
		LastError string `json:"last_error"`
	}
	show := e.must("vm", "show", "--json", "e2e-a")
	if err := json.Unmarshal([]byte(show.stdout), &v); err != nil {
		t.Fatalf("vm show --json: %v\n%s", err, show)
	}
	if v.State != "stopped" || v.PID != 0 || v.TAP != "" || !strings.Contains(v.LastError, "Kernel panic") {
		t.Fatalf("after the failed start: %s", show.stdout)
	}
	contains(t, e.must("vm", "show", "e2e-a"), "last error:", "Kernel panic")
	if n := killQemuOf(e.home); n != 0 {
		t.Errorf("%d qemu processes left by the failed start", n)
	}

	if err := os.WriteFile(initrd, good, 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("vm", "start", "e2e-a")
	show = e.must("vm", "show", "--json", "e2e-a")
	v.LastError = ""
	if err := json.Unmarshal([]byte(show.stdout), &v); err != nil || v.State != "running" || v.LastError != "" {
		t.Fatalf("after the fixed start: %v %s", err, show.stdout)
	}
	if out := e.ssh(t, "e2e-a", "true"); out.code != 0 {
		t.Fatalf("ssh after the fixed start: %s", out)
	}
}
