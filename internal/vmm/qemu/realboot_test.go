package qemu

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/paths"
	"banger/internal/vmm"
)

// These tests run the real qemu-system-x86_64 (TCG, no root, no network)
// with a real guest kernel; see helpers_test.go for how they find both.

func TestProbeInitBootsUnderTCG(t *testing.T) {
	bin := requireQEMU(t)
	for _, k := range testKernels(t) {
		t.Run(k.form, func(t *testing.T) {
			out, err := probeBoot(context.Background(), bin, "tcg", k.path, 90*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !out.ok {
				t.Fatalf("probe init did not run under TCG: %s", out.detail)
			}
			t.Logf("probe initrd booted under TCG (%s kernel) in %s", k.form, out.elapsed.Round(time.Millisecond))
		})
	}
}

func TestProbeKVMReal(t *testing.T) {
	bin := requireQEMU(t)
	k := testKernels(t)[0]
	cache := filepath.Join(t.TempDir(), "kvm-probe.json")
	opts := ProbeOptions{Binary: bin, Kernel: k.path, CacheFile: cache}

	start := time.Now()
	r := ProbeKVM(context.Background(), opts)
	first := time.Since(start)
	t.Logf("probe: %+v in %s", r, first.Round(time.Millisecond))
	if r.Usable != (r.Accel == "kvm") || (r.Accel != "kvm" && r.Accel != "tcg") || r.Reason == "" {
		t.Fatalf("inconsistent result %+v", r)
	}
	if want := os.Getenv("BANGER_TEST_EXPECT_ACCEL"); want != "" && r.Accel != want {
		t.Fatalf("accel = %q, BANGER_TEST_EXPECT_ACCEL = %q (%s)", r.Accel, want, r.Reason)
	}
	if _, err := os.Stat("/dev/kvm"); err == nil && deviceUsable("/dev/kvm") {
		// A real boot verdict: it must be cached and served from the cache.
		start = time.Now()
		again := ProbeKVM(context.Background(), opts)
		if !again.CheckedAt.Equal(r.CheckedAt) || again.Reason != r.Reason {
			t.Fatalf("second probe not served from cache: %+v vs %+v", again, r)
		}
		t.Logf("cached probe answered in %s", time.Since(start).Round(time.Millisecond))
	}
}

func TestStartAndRequestShutdownTCG(t *testing.T) {
	bin := requireQEMU(t)
	kernels := testKernels(t)
	initrd := buildWaitInitrd(t)
	for _, k := range kernels {
		t.Run(k.form, func(t *testing.T) { bootAndShutdown(t, bin, k.path, initrd) })
	}
}

func bootAndShutdown(t *testing.T, bin, kernel, initrd string) {
	dir := t.TempDir()
	vd := paths.VMDir(dir)
	ro := filepath.Join(dir, "base.ext4")
	rw := filepath.Join(dir, "over,lay.ext4") // a comma must survive qemu's option parser
	for _, p := range []string{ro, rw} {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := vmm.Spec{
		ID: "0123456789abcdef", Name: "tcg-test", Dir: dir,
		Kernel: kernel, Initrd: initrd, BootArgs: "console=ttyS0 panic=-1",
		VCPUs: 1, MemoryMiB: 256,
		Disks:       []vmm.Disk{{ID: "rootfs", Path: ro, ReadOnly: true}, {ID: "overlay", Path: rw}},
		AgentSocket: vd.VsockSocket(),
		LogPath:     vd.BootLog("qemu", 1),
		ConsolePath: vd.BootLog("console", 1),
		PIDFile:     vd.PIDFile(),
	}
	d := New(Options{Binary: bin, Accel: "tcg", LogPump: testPump(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t0 := time.Now()
	p, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Since(t0)
	defer p.Terminate(context.Background(), time.Second)
	if !p.Alive() {
		t.Fatal("qemu not alive after Start")
	}
	pid, err := os.ReadFile(spec.PIDFile)
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(p.PID) {
		t.Fatalf("pid file = %q, %v; want %d", pid, err, p.PID)
	}
	st, err := queryStatusOnce(ctx, vd.APISocket())
	if err != nil || st.Status != "running" {
		t.Fatalf("query-status = %+v, %v", st, err)
	}

	att, err := d.Attach(ctx, spec, p)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(spec.AgentSocket); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("agent socket after Attach: %v, %v", fi, err)
	}

	if err := waitForConsole(ctx, spec.ConsolePath, "BANGER-TEST-INIT-READY"); err != nil {
		t.Fatalf("guest init: %v", err)
	}
	ready := time.Since(t0)
	if err := d.RequestShutdown(ctx, spec, p); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := p.WaitExit(wctx); err != nil {
		t.Fatalf("qemu did not exit after the power button: %v", err)
	}
	t.Logf("Start returned in %s, guest init ran at %s, exit %s after RequestShutdown",
		started.Round(time.Millisecond), ready.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))

	if err := d.RequestShutdown(ctx, spec, p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("RequestShutdown after exit = %v, want ErrNotRunning", err)
	}
	if err := att.Close(); err != nil {
		t.Fatal(err)
	}
	console, _ := os.ReadFile(spec.ConsolePath)
	if !bytes.Contains(console, []byte("BANGER-TEST-INIT-POWERDOWN")) {
		t.Fatalf("guest did not see the power button; console ends: %s", lastLine(string(console)))
	}
	// qemu removes its sockets and pid file on a clean exit; the
	// attachment removes the agent socket.
	for _, s := range []string{vd.APISocket(), vd.SerialSocket(), spec.AgentSocket, spec.PIDFile} {
		if _, err := os.Lstat(s); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind (%v)", s, err)
		}
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	bin := requireQEMU(t)
	dir := t.TempDir()
	vd := paths.VMDir(dir)
	spec := vmm.Spec{
		ID: "feedface", Name: "broken", Dir: dir,
		Kernel: filepath.Join(dir, "no-such-kernel"), VCPUs: 1, MemoryMiB: 128,
		AgentSocket: vd.VsockSocket(), LogPath: vd.BootLog("qemu", 1), PIDFile: vd.PIDFile(),
	}
	_, err := New(Options{Binary: bin, LogPump: testPump(t)}).Start(context.Background(), spec)
	if err == nil {
		t.Fatal("Start succeeded without a kernel")
	}
	if !strings.Contains(err.Error(), spec.LogPath) || !strings.Contains(err.Error(), "no-such-kernel") {
		t.Fatalf("error does not name the log and qemu's complaint: %v", err)
	}
	for _, s := range []string{vd.APISocket(), vd.SerialSocket(), spec.PIDFile} {
		if _, err := os.Lstat(s); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind (%v)", s, err)
		}
	}
}

func waitForConsole(ctx context.Context, path, marker string) error {
	for {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(marker)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("no " + marker + " on the console; it ends: " + lastLine(string(b)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
