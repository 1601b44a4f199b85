package firecracker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"banger/internal/bundle"
	"banger/internal/paths"
	"banger/internal/vmm"
)

// TestRealFirecrackerBoot boots the bundle kernel under a real Firecracker.
// It needs a firecracker binary (BANGER_FIRECRACKER or PATH), a /dev/kvm
// this user can open, and BANGER_TEST_BUNDLE naming a runtime bundle with
// an ELF kernel. It skips when one is missing, unless BANGER_FIRECRACKER is
// set: asking for Firecracker explicitly turns a missing prerequisite into
// a failure. No network device is attached.
func TestRealFirecrackerBoot(t *testing.T) {
	explicit := os.Getenv("BANGER_FIRECRACKER") != ""
	need := func(ok bool, format string, a ...any) {
		t.Helper()
		if ok {
			return
		}
		if explicit {
			t.Fatalf(format, a...)
		}
		t.Skipf(format, a...)
	}
	bin := os.Getenv("BANGER_FIRECRACKER")
	if bin == "" {
		bin, _ = exec.LookPath("firecracker")
	}
	need(bin != "", "no firecracker binary: set BANGER_FIRECRACKER or put firecracker on PATH")
	kvm, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	need(err == nil, "/dev/kvm is not usable: %v", err)
	kvm.Close()
	bundleDir := os.Getenv("BANGER_TEST_BUNDLE")
	need(bundleDir != "", "BANGER_TEST_BUNDLE is not set (a runtime bundle with kernel_elf)")
	meta, err := bundle.Load(bundleDir)
	need(err == nil, "load test bundle: %v", err)
	need(meta.KernelELF != "", "bundle %s has no kernel_elf", bundleDir)

	dir := t.TempDir()
	vd := paths.VMDir(dir)
	spec := vmm.Spec{
		ID: "banger-realboot", Name: "realboot", Dir: dir,
		Kernel:   bundle.Path(bundleDir, meta.KernelELF),
		Initrd:   bundle.Path(bundleDir, meta.Initrd),
		BootArgs: "console=ttyS0 reboot=k panic=1",
		VCPUs:    2, MemoryMiB: 512,
		AgentSocket: vd.VsockSocket(),
		LogPath:     vd.BootLog("firecracker", 1),
		PIDFile:     vd.PIDFile(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	drv := New(Options{Binary: bin, LogPump: testPump(t)})
	p, err := drv.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate(context.Background(), 5*time.Second)

	// The serial console goes to the log: the kernel banner proves a boot.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(spec.LogPath)
		if strings.Contains(string(b), "Linux version") {
			break
		}
		if time.Now().After(deadline) || !p.Alive() {
			t.Fatalf("no kernel banner on the serial console (alive=%v); log:\n%s", p.Alive(), b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Without the full disk set the guest init may already have panicked
	// and rebooted (panic=1, reboot=k); either way Firecracker must exit.
	if err := drv.RequestShutdown(ctx, spec, p); err != nil && p.Alive() && !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitExit(wctx); err != nil {
		t.Fatalf("firecracker did not exit after ctrl-alt-del: %v; log tail:\n%s", err, vmm.LogTail(spec.LogPath, 0, 20))
	}
}
