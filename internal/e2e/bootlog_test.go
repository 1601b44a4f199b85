package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootLogsOnQemu: each boot writes its own console and qemu log
// through bangerd's log pump, the current boot's console shows what the
// guest prints, and a guest flooding its console is capped.
func TestBootLogsOnQemu(t *testing.T) {
	e := newVMEnv(t)
	e.must("vm", "create", "--name", "e2e-a", "--memory", "512")
	v := e.vm(t, "e2e-a")
	dir := filepath.Join(e.stateDir(), "vms", v.ID)
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}

	// The serial getty hangs the tty up when it (re)starts, which fails a
	// writer's open descriptor with EIO: stop it before writing.
	const noGetty = "systemctl stop serial-getty@ttyS0.service; "
	if r := e.ssh(t, "e2e-a", "sh", "-c", noGetty+"echo BANGER-E2E-BOOT-ONE > /dev/ttyS0"); r.code != 0 {
		t.Fatalf("write to the console: %s", r)
	}
	if !eventually(30*time.Second, func() bool { return strings.Contains(read("console.1.log"), "BANGER-E2E-BOOT-ONE") }) {
		t.Fatalf("console.1.log lacks the guest's line:\n%s", read("console.1.log"))
	}
	if _, err := os.Stat(filepath.Join(dir, "qemu.1.log")); err != nil {
		t.Errorf("qemu.1.log: %v", err)
	}

	e.must("vm", "restart", "e2e-a")
	// 3 MiB onto the serial console: more than the 2 MiB cap.
	if r := e.ssh(t, "e2e-a", "sh", "-c", noGetty+"echo BANGER-E2E-BOOT-TWO > /dev/ttyS0; head -c 3145728 /dev/zero | tr '\\0' x > /dev/ttyS0"); r.code != 0 {
		t.Fatalf("flood the console: %s", r)
	}
	e.must("vm", "stop", "e2e-a")
	// The pump writes its marker when qemu's end of the pipe closes.
	if !eventually(30*time.Second, func() bool { return strings.Contains(read("console.2.log"), "[banger logpump:") }) {
		st, _ := os.Stat(filepath.Join(dir, "console.2.log"))
		t.Fatalf("no drop marker in console.2.log (%v)", st)
	}
	two := read("console.2.log")
	if !strings.Contains(two, "BANGER-E2E-BOOT-TWO") || strings.Contains(two, "BANGER-E2E-BOOT-ONE") {
		t.Errorf("console.2.log is not the second boot's")
	}
	i := strings.Index(two, "\n[banger logpump:")
	if i != 2<<20 || !strings.HasSuffix(two, "bytes]\n") {
		t.Errorf("console.2.log: %d bytes, marker at %d, want the 2 MiB cap then the marker line", len(two), i)
	}
	if !strings.Contains(read("console.1.log"), "BANGER-E2E-BOOT-ONE") {
		t.Errorf("the first boot's console was lost")
	}
	t.Logf("first boot's console (%d bytes):\n%s", len(read("console.1.log")), read("console.1.log"))
}
