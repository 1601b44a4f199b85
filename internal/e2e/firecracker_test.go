package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/vmm/firecracker"
)

// requireFirecrackerHost skips unless this host can boot real Firecracker
// VMs: BANGER_FIRECRACKER_BIN naming a Firecracker new enough, a /dev/kvm
// this user opens read-write, root for the network namespace, and a runtime
// bundle. Setting BANGER_FIRECRACKER_BIN asks for the test, so then a
// missing prerequisite fails it instead.
func requireFirecrackerHost(t *testing.T) (bundle, bin string) {
	t.Helper()
	bin = os.Getenv("BANGER_FIRECRACKER_BIN")
	var missing []string
	if bin == "" {
		missing = append(missing, "BANGER_FIRECRACKER_BIN (a firecracker "+firecracker.MinVersion.String()+" or newer)")
	} else if _, err := (firecracker.HostCheck{Binary: bin}).Check(context.Background()); err != nil {
		missing = append(missing, "a usable firecracker and /dev/kvm ("+err.Error()+")")
	}
	if f, err := os.OpenFile(firecracker.KVMDevice, os.O_RDWR, 0); err != nil {
		missing = append(missing, "a /dev/kvm this user can open read-write ("+err.Error()+")")
	} else {
		f.Close()
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (iproute2)")
	}
	bundle = os.Getenv("BANGER_TEST_BUNDLE")
	if bundle == "" {
		missing = append(missing, "BANGER_TEST_BUNDLE (run scripts/test-bundle.sh)")
	}
	if len(missing) > 0 {
		msg := "real-Firecracker test needs BANGER_FIRECRACKER_BIN (firecracker " + firecracker.MinVersion.String() + "+), a /dev/kvm that boots guests, root and BANGER_TEST_BUNDLE; missing here: " + strings.Join(missing, ", ")
		if bin != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bundle, bin
}

// killFirecrackerOf kills any firecracker whose API socket is under dir.
func killFirecrackerOf(dir string) int {
	out, _ := exec.Command("pgrep", "-f", "firecracker --api-sock "+dir).Output()
	n := 0
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
		n++
	}
	return n
}

// TestVMOnRealFirecracker is the first-KVM-host check of the Firecracker
// path, driven through bangerd so that it boots exactly what users boot:
// the daemon's own kernel command line, the full disk set, a TAP (in a
// network namespace), the vsock agent. It checks each fact the Firecracker
// review found: no i8042.nopnp (Ctrl-Alt-Del works), all virtio devices
// found through ACPI, Writeback caching, `vm stop` ending the process
// through Ctrl-Alt-Del when the agent cannot answer, and a guest poweroff
// ending the process.
func TestVMOnRealFirecracker(t *testing.T) {
	bundle, bin := requireFirecrackerHost(t)
	e := newNetnsEnv(t, bundle, "BANGER_VMM=firecracker", "BANGER_FIRECRACKER_BIN="+bin)
	t.Cleanup(func() { killFirecrackerOf(e.home) })

	r := e.must("vm", "create", "--name", "e2e-a", "--memory", "768")
	contains(t, r, "e2e-a is running")
	v := e.vm(t, "e2e-a")
	vmDir := filepath.Join(e.stateDir(), "vms", v.ID)

	// The daemon's command line reached the guest, plus what Firecracker
	// appends; the keyboard controller is found through ACPI.
	cmdline := e.ssh(t, "e2e-a", "cat", "/proc/cmdline")
	if cmdline.code != 0 || !strings.Contains(cmdline.stdout, "reboot=k") || !strings.Contains(cmdline.stdout, "pci=off") || strings.Contains(cmdline.stdout, "i8042.nopnp") {
		t.Errorf("guest command line: %s", cmdline)
	}
	// Every disk, the writable ones with a write-back cache (Firecracker's
	// "Unsafe" default would show "write through": flushes ignored).
	disks := e.ssh(t, "e2e-a", "sh", "-c", "for d in vda vdb vdc; do echo $d $(cat /sys/block/$d/ro) $(cat /sys/block/$d/queue/write_cache); done; findmnt -n -o SOURCE /root")
	for _, want := range []string{"vda 1", "vdb 0 write back", "vdc 0 write back", "/dev/vdc"} {
		if !strings.Contains(disks.stdout, want) {
			t.Errorf("disks lack %q: %s", want, disks)
		}
	}
	// The agent answers through Firecracker's vsock.
	st := e.must("vm", "stats", "--json", "e2e-a")
	if !strings.Contains(st.stdout, `"guest"`) {
		t.Errorf("no guest figures from the agent:\n%s", st.stdout)
	}

	// vm stop with the agent gone: Ctrl-Alt-Del must end Firecracker,
	// without the SIGTERM fallback.
	if r := e.ssh(t, "e2e-a", "systemctl", "stop", agent.UnitName); r.code != 0 {
		t.Fatalf("stop the agent: %s", r)
	}
	r = e.must("vm", "stop", "e2e-a")
	if strings.Contains(r.stderr, "terminating the vmm") {
		t.Errorf("vm stop fell back to signals; Ctrl-Alt-Del did not end the guest:\n%s", r)
	}
	log, _ := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
	if !strings.Contains(string(log), "sent ctrl-alt-del") {
		t.Errorf("stop did not go through Ctrl-Alt-Del:\n%s", log)
	}
	if alive(v.PID) {
		t.Fatalf("firecracker pid %d still runs after vm stop", v.PID)
	}

	// A guest poweroff ends the process and the VM shows as stopped.
	e.must("vm", "start", "e2e-a")
	v = e.vm(t, "e2e-a")
	e.ssh(t, "e2e-a", "systemctl", "poweroff")
	if !eventually(90*time.Second, func() bool { return !alive(v.PID) }) {
		t.Fatalf("firecracker pid %d still runs after the guest powered off", v.PID)
	}
	if !eventually(30*time.Second, func() bool { return e.vm(t, "e2e-a").State == "stopped" }) {
		t.Errorf("vm not shown as stopped after poweroff: %+v", e.vm(t, "e2e-a"))
	}

	// One bounded log per boot, and no console file under Firecracker.
	for _, name := range []string{"firecracker.1.log", "firecracker.2.log"} {
		if _, err := os.Stat(filepath.Join(vmDir, name)); err != nil {
			t.Errorf("boot log %s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(vmDir, "firecracker.2.log")); !strings.Contains(string(b), "reboot: Power down") {
		t.Errorf("second boot's log lacks the power-off line")
	}
	if m, _ := filepath.Glob(filepath.Join(vmDir, "console.*")); len(m) != 0 {
		t.Errorf("console files under firecracker: %v", m)
	}
	e.must("vm", "delete", "e2e-a")
}
