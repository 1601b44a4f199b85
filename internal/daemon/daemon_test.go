package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/paths"
	"banger/internal/store"
	"banger/internal/testenv"
	"banger/internal/vmm"
)

type testDaemon struct {
	*Daemon
	host   *fakeHost
	layout paths.Layout
	cfg    config.Config
	cancel context.CancelFunc
}

// makeImage builds a tiny ext4 rootfs and work seed, and dummy kernel and
// initrd files; only the disks are read for real.
func makeImage(t testing.TB, dir string) (rootfs, seed, kernel, initrd string) {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "root"), 0o700)
	os.WriteFile(filepath.Join(src, "root", ".bashrc"), []byte("# hi\n"), 0o644)
	// A systemd rootfs as Debian lays it out: /sbin/init is a link.
	os.MkdirAll(filepath.Join(src, "sbin"), 0o755)
	os.MkdirAll(filepath.Join(src, "lib", "systemd"), 0o755)
	os.Symlink("/lib/systemd/systemd", filepath.Join(src, "sbin", "init"))
	os.WriteFile(filepath.Join(src, "lib", "systemd", "systemd"), nil, 0o755)
	rootfs, seed = filepath.Join(dir, "rootfs.ext4"), filepath.Join(dir, "seed.ext4")
	for _, c := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-L", "banger-root", "-d", src, rootfs, "16M"},
		{"mkfs.ext4", "-q", "-F", "-L", "banger-work", "-d", filepath.Join(src, "root"), seed, "8M"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	kernel, initrd = filepath.Join(dir, "vmlinux"), filepath.Join(dir, "initrd.img")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	os.WriteFile(initrd, []byte("initrd"), 0o644)
	return
}

func newTestDaemon(t testing.TB, host *fakeHost, base string) *testDaemon {
	t.Helper()
	t.Cleanup(host.drv.killAll)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		_, err := os.Stat("/usr/sbin/mkfs.ext4")
		testenv.RequireOrSkip(t, "e2fsprogs (mkfs.ext4)", err == nil)
	}
	layout := paths.Layout{ConfigDir: filepath.Join(base, "config"), StateDir: filepath.Join(base, "state"), CacheDir: filepath.Join(base, "cache"), RuntimeDir: filepath.Join(base, "run")}
	if err := layout.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	imgDir := filepath.Join(base, "image")
	if _, err := os.Stat(imgDir); err != nil {
		os.MkdirAll(imgDir, 0o755)
		makeImage(t, imgDir)
	}
	cfg := config.Defaults()
	cfg.DefaultRootfs = filepath.Join(imgDir, "rootfs.ext4")
	cfg.DefaultWorkSeed = filepath.Join(imgDir, "seed.ext4")
	cfg.DefaultKernel = filepath.Join(imgDir, "vmlinux")
	cfg.DefaultInitrd = filepath.Join(imgDir, "initrd.img")
	cfg.RuntimeDir = filepath.Join(base, "no-bundle")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(ctx, Options{Layout: layout, Config: cfg, Host: host, Version: "test",
		SSHReady: func(context.Context, string) bool { return true }}, log, cancel)
	if err != nil {
		t.Fatal(err)
	}
	return &testDaemon{Daemon: d, host: host, layout: layout, cfg: cfg, cancel: cancel}
}

func (td *testDaemon) create(t *testing.T, name string) api.VM {
	t.Helper()
	vm, err := td.CreateVM(context.Background(), api.CreateVMRequest{Name: name, DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return vm
}

func debugfsCat(t *testing.T, image, path string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+path, image).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

func TestLifecycle(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()

	vm := td.create(t, "calm-otter")
	if vm.State != api.StateRunning || vm.PID == 0 || vm.IP != "172.30.0.2" || vm.DNSName != "calm-otter.vm" {
		t.Fatalf("unexpected vm: %+v", vm)
	}
	proc := vmm.Process{PID: vm.PID}
	if !proc.Alive() {
		t.Fatal("vmm not running")
	}
	dir := td.layout.VM(vm.ID)
	if got := debugfsCat(t, dir.Overlay(), "/upper/etc/hostname"); got != "calm-otter\n" {
		t.Errorf("overlay hostname %q", got)
	}
	if size, _ := os.Stat(dir.WorkDisk()); size.Size() != 64<<20 {
		t.Errorf("work disk not grown to 64M: %d", size.Size())
	}
	kh, _ := os.ReadFile(td.layout.KnownHosts())
	if !strings.Contains(string(kh), "banger-"+vm.ID+" ssh-ed25519 ") {
		t.Errorf("known_hosts lacks the vm: %q", kh)
	}
	if host.dns["calm-otter"].String() != "172.30.0.2" || host.tapCount() != 1 {
		t.Errorf("dns %v taps %d", host.dns, host.tapCount())
	}

	// Running VMs refuse offline-only changes and a plain delete.
	mem := 512
	if _, err := td.SetVM(ctx, "calm-otter", api.SetVMRequest{MemoryMiB: &mem}); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("set memory on running vm: %v", err)
	}
	if _, err := td.DeleteVM(ctx, "calm-otter", false); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("delete running without force: %v", err)
	}

	stopped, err := td.StopVM(ctx, "calm-otter", api.StopRequest{TimeoutSeconds: 5}, nil)
	if err != nil || stopped.State != api.StateStopped {
		t.Fatalf("stop: %v %+v", err, stopped)
	}
	if proc.Alive() || host.tapCount() != 0 {
		t.Fatalf("after stop: alive=%v taps=%d", proc.Alive(), host.tapCount())
	}
	// Stopped: settings change, disks grow but never shrink.
	big := int64(128 << 20)
	if _, err := td.SetVM(ctx, "calm-otter", api.SetVMRequest{MemoryMiB: &mem, DiskSize: &big}); err != nil {
		t.Fatal(err)
	}
	small := int64(32 << 20)
	if _, err := td.SetVM(ctx, "calm-otter", api.SetVMRequest{DiskSize: &small}); err == nil || !strings.Contains(err.Error(), "only grow") {
		t.Fatalf("shrink: %v", err)
	}
	if size, _ := os.Stat(dir.WorkDisk()); size.Size() != big {
		t.Errorf("work disk %d, want %d", size.Size(), big)
	}

	started, err := td.StartVM(ctx, vm.ID[:6], nil)
	if err != nil || started.State != api.StateRunning || started.MemoryMiB != 512 {
		t.Fatalf("start: %v %+v", err, started)
	}
	if _, err := td.DeleteVM(ctx, "calm-otter", true); err != nil {
		t.Fatal(err)
	}
	if (vmm.Process{PID: started.PID}).Alive() {
		t.Error("vmm alive after forced delete")
	}
	if _, err := os.Stat(dir.String()); !os.IsNotExist(err) {
		t.Error("vm dir left after delete")
	}
	if _, err := td.GetVM(ctx, "calm-otter"); err == nil {
		t.Error("record left after delete")
	}
	kh, _ = os.ReadFile(td.layout.KnownHosts())
	if strings.Contains(string(kh), vm.ID) || host.tapCount() != 0 || len(host.dns) != 0 {
		t.Errorf("leftovers: known_hosts=%q taps=%d dns=%v", kh, host.tapCount(), host.dns)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	host := newFakeHost()
	host.drv.failStart = errors.New("vmm exploded")
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	_, err := td.CreateVM(context.Background(), api.CreateVMRequest{Name: "doomed", DiskSize: 64 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "vmm exploded") {
		t.Fatalf("want start failure, got %v", err)
	}
	vms, _ := td.ListVMs(context.Background())
	entries, _ := os.ReadDir(td.layout.VMsDir())
	kh, _ := os.ReadFile(td.layout.KnownHosts())
	if len(vms) != 0 || len(entries) != 0 || host.tapCount() != 0 || strings.TrimSpace(string(kh)) != "" || len(host.dns) != 0 {
		t.Fatalf("leftovers: vms=%d dirs=%d taps=%d known_hosts=%q dns=%v", len(vms), len(entries), host.tapCount(), kh, host.dns)
	}
	// The address is free again.
	host.drv.failStart = nil
	if vm := td.create(t, "works"); vm.IP != "172.30.0.2" {
		t.Errorf("address not released: %s", vm.IP)
	}
	td.DeleteVM(context.Background(), "works", true)
}

func TestBadInputChangesNothing(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	td.create(t, "web")
	cases := []struct {
		req  api.CreateVMRequest
		want string
	}{
		{api.CreateVMRequest{Name: "web"}, "already exists"},
		{api.CreateVMRequest{Name: "Web_1"}, "only lower-case"},
		{api.CreateVMRequest{MemoryMiB: 64}, "below the minimum"},
		{api.CreateVMRequest{MemoryMiB: 1 << 30}, "more than this host has"},
		{api.CreateVMRequest{VCPUs: 4096}, "CPUs"},
		{api.CreateVMRequest{Image: "nope"}, "not found"},
		{api.CreateVMRequest{DiskSize: 1 << 20}, "smaller than image"},
	}
	for _, tc := range cases {
		_, err := td.CreateVM(ctx, tc.req, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.req, err, tc.want)
		}
	}
	vms, _ := td.ListVMs(ctx)
	if len(vms) != 1 {
		t.Fatalf("bad input created VMs: %d", len(vms))
	}
	td.DeleteVM(ctx, "web", true)
}

func TestAmbiguousRef(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, td.create(t, fmt.Sprintf("vm-%d", i)).ID)
	}
	defer func() {
		for _, id := range ids {
			td.DeleteVM(ctx, id, true)
		}
	}()
	// With 20 random ids, some one-character prefix is shared.
	counts := map[byte]int{}
	for _, id := range ids {
		counts[id[0]]++
	}
	for c, n := range counts {
		if n > 1 {
			_, err := td.GetVM(ctx, string(c))
			if err == nil || !strings.Contains(err.Error(), "ambiguous") {
				t.Fatalf("prefix %c: %v", c, err)
			}
			return
		}
	}
}

func TestRestartReadoptsAndReconciles(t *testing.T) {
	base := t.TempDir()
	host := newFakeHost()
	td := newTestDaemon(t, host, base)
	ctx := context.Background()
	keep := td.create(t, "keeper")
	dead := td.create(t, "goner")
	td.Close() // bangerd stops; VMs keep running

	if !(vmm.Process{PID: keep.PID}).Alive() {
		t.Fatal("vm died with the daemon")
	}
	(vmm.Process{PID: dead.PID}).Terminate(ctx, time.Second)

	td2 := newTestDaemon(t, host, base)
	defer td2.Close()
	got, _ := td2.GetVM(ctx, "keeper")
	if got.State != api.StateRunning || got.PID != keep.PID {
		t.Errorf("keeper not re-adopted: %+v", got)
	}
	got, _ = td2.GetVM(ctx, "goner")
	if got.State != api.StateStopped || got.PID != 0 {
		t.Errorf("goner not marked stopped: %+v", got)
	}
	if host.tapCount() != 1 {
		t.Errorf("taps after reconcile: %d", host.tapCount())
	}
	td2.DeleteVM(ctx, "keeper", true)
	td2.DeleteVM(ctx, "goner", true)
}

func TestHalfCreatedVMRemovedOnRestart(t *testing.T) {
	base := t.TempDir()
	host := newFakeHost()
	td := newTestDaemon(t, host, base)
	ctx := context.Background()
	vm := td.create(t, "half")
	// Simulate a crash in the middle of create: the record says creating.
	td.store.UpdateVM(ctx, vm.ID, func(v *store.VM) error { v.State = api.StateCreating; return nil })
	td.Close()

	td2 := newTestDaemon(t, host, base)
	defer td2.Close()
	if _, err := td2.GetVM(ctx, "half"); err == nil {
		t.Fatal("half-created vm still recorded")
	}
	if (vmm.Process{PID: vm.PID}).Alive() {
		t.Error("half-created vm's vmm still running")
	}
	if _, err := os.Stat(td2.layout.VM(vm.ID).String()); !os.IsNotExist(err) {
		t.Error("half-created vm dir left")
	}
	if host.tapCount() != 0 {
		t.Errorf("tap leaked: %d", host.tapCount())
	}
}

// waitStopped waits (generously) for the supervisor to record name as
// stopped.
func (td *testDaemon) waitStopped(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := td.GetVM(context.Background(), name)
		if got.State == api.StateStopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisor did not mark %s stopped: %+v", name, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSupervisorNoticesDeadVMM(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	vm := td.create(t, "crashy")
	(vmm.Process{PID: vm.PID}).Terminate(ctx, time.Second)
	td.waitStopped(t, "crashy")
	if host.tapCount() != 0 {
		t.Error("tap not released after the vmm died")
	}
	td.DeleteVM(ctx, "crashy", false)
}

func TestConcurrentMultiRef(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = td.CreateVM(ctx, api.CreateVMRequest{Name: fmt.Sprintf("par-%d", i), DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	vms, _ := td.ListVMs(ctx)
	ips := map[string]bool{}
	for _, v := range vms {
		ips[v.IP] = true
	}
	if len(vms) != 4 || len(ips) != 4 {
		t.Fatalf("vms %d distinct ips %d", len(vms), len(ips))
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = td.DeleteVM(ctx, fmt.Sprintf("par-%d", i), true)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if vms, _ := td.ListVMs(ctx); len(vms) != 0 || host.tapCount() != 0 {
		t.Fatalf("left %d vms %d taps", len(vms), host.tapCount())
	}
}

func TestNATFailureUnwindsAndLeavesNATOffVMsAlone(t *testing.T) {
	host := newFakeHost()
	host.natErr = errors.New("iptables not found: install the iptables package")
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	_, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "natty", NAT: true, DiskSize: 64 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "iptables not found") {
		t.Fatalf("want nat error, got %v", err)
	}
	vms, _ := td.ListVMs(ctx)
	if len(vms) != 0 || host.tapCount() != 0 || len(host.dns) != 0 {
		t.Fatalf("leftovers: vms=%d taps=%d dns=%v", len(vms), host.tapCount(), host.dns)
	}
	// A VM without NAT is unaffected, and turning NAT on live fails
	// clearly without changing the VM.
	vm := td.create(t, "plain")
	on := true
	if _, err := td.SetVM(ctx, "plain", api.SetVMRequest{NAT: &on}); err == nil || !strings.Contains(err.Error(), "iptables") {
		t.Fatalf("set --nat: %v", err)
	}
	got, _ := td.GetVM(ctx, "plain")
	if got.NAT || got.State != api.StateRunning || got.PID != vm.PID {
		t.Fatalf("vm changed by a failed --nat: %+v", got)
	}
	td.DeleteVM(ctx, "plain", true)
}

func TestSSHTimeoutRemovesVMAndKeepsLogs(t *testing.T) {
	t.Setenv("BANGER_SSH_TIMEOUT", "600ms")
	host := newFakeHost()
	base := t.TempDir()
	td := newTestDaemon(t, host, base)
	td.opts.SSHReady = func(context.Context, string) bool { return false }
	defer td.Close()
	ctx := context.Background()
	_, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "mute", DiskSize: 64 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "did not answer ssh") || !strings.Contains(err.Error(), "failed-mute-") {
		t.Fatalf("want an ssh timeout naming the kept log, got %v", err)
	}
	vms, _ := td.ListVMs(ctx)
	if len(vms) != 0 || host.tapCount() != 0 || len(host.dns) != 0 {
		t.Fatalf("leftovers: vms=%d taps=%d dns=%v", len(vms), host.tapCount(), host.dns)
	}
	kept, _ := filepath.Glob(filepath.Join(td.layout.StateDir, "failed-mute-*.log"))
	if len(kept) != 1 {
		t.Fatalf("failure log not kept: %v", kept)
	}
}

// TestVMMNetworkFailureFailsAtOnce: a VMM that logs that its TAP is
// unusable fails the create long before the SSH timeout, and the TAP is
// released (deleted), never handed out again.
func TestVMMNetworkFailureFailsAtOnce(t *testing.T) {
	t.Setenv("BANGER_SSH_TIMEOUT", "10m")
	host := newFakeHost()
	host.drv.logLine = "qemu-system-x86_64: TUNSETOFFLOAD ioctl() failed: File descriptor in bad state"
	td := newTestDaemon(t, host, t.TempDir())
	td.opts.SSHReady = func(context.Context, string) bool { return false }
	defer td.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "deaf", DiskSize: 64 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot use tap") || !strings.Contains(err.Error(), "TUNSETOFFLOAD") {
		t.Fatalf("want a network failure naming the log line, got %v", err)
	}
	if host.tapCount() != 0 || len(host.released) != 1 {
		t.Fatalf("tap not released: taken=%d released=%v", host.tapCount(), host.released)
	}
}

func TestStopEscalatesWhenTheGuestIgnoresShutdown(t *testing.T) {
	host := newFakeHost()
	host.drv.deaf = true
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	vm := td.create(t, "deaf")
	var steps []string
	start := time.Now()
	got, err := td.StopVM(ctx, "deaf", api.StopRequest{TimeoutSeconds: 1}, progressFn(func(ev api.Event) { steps = append(steps, ev.Message) }))
	if err != nil || got.State != api.StateStopped {
		t.Fatalf("stop: %v %+v", err, got)
	}
	if (vmm.Process{PID: vm.PID}).Alive() {
		t.Fatal("vmm still alive after escalation")
	}
	if !strings.Contains(strings.Join(steps, "\n"), "terminating the vmm") || time.Since(start) > 10*time.Second {
		t.Errorf("no escalation step reported (%s): %q", time.Since(start), steps)
	}
	td.DeleteVM(ctx, "deaf", false)
}

// TestFailedStartRecordsStoppedWithError: whatever makes a start fail, the
// record ends stopped with the cause in LastError, no pid and no TAP, the
// VMM is gone, and a start after the cause is fixed works.
func TestFailedStartRecordsStoppedWithError(t *testing.T) {
	t.Setenv("BANGER_SSH_TIMEOUT", "500ms")
	never := func(context.Context, string) bool { return false }
	for _, tc := range []struct {
		name   string
		break_ func(td *testDaemon)
		want   string
	}{
		{"vmm fails to start", func(td *testDaemon) { td.host.drv.failStart = errors.New("vmm exploded") }, "vmm exploded"},
		{"vmm exits", func(td *testDaemon) {
			td.host.drv.exits = true
			td.host.drv.console = "[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n[    2.1] CPU: 0 PID: 1\n[    2.1] Call Trace:\n[    2.1]  <TASK>\n[    2.1]  dump_stack_lvl+0x44/0x5c\n[    2.1]  panic+0x118/0x2ed\n[    2.1]  </TASK>"
			td.opts.SSHReady = never
		}, "guest kernel panicked (\"Kernel panic - not syncing: VFS: Unable to mount root fs\")"},
		{"ssh timeout", func(td *testDaemon) { td.opts.SSHReady = never }, "did not answer ssh"},
		{"network failure", func(td *testDaemon) {
			td.host.drv.logLine = "qemu-system-x86_64: TUNSETOFFLOAD ioctl() failed: File descriptor in bad state"
			td.opts.SSHReady = never
		}, "cannot use tap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := newFakeHost()
			td := newTestDaemon(t, host, t.TempDir())
			defer td.Close()
			ctx := context.Background()
			vm := td.create(t, "flaky")
			if _, err := td.StopVM(ctx, "flaky", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
				t.Fatal(err)
			}
			ready := td.opts.SSHReady
			tc.break_(td)
			_, err := td.StartVM(ctx, "flaky", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start: want an error with %q, got %v", tc.want, err)
			}
			got, err := td.GetVM(ctx, "flaky")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != api.StateStopped || got.PID != 0 || got.TAP != "" || !strings.Contains(got.LastError, tc.want) {
				t.Fatalf("record after a failed start: state=%s pid=%d tap=%q last_error=%q", got.State, got.PID, got.TAP, got.LastError)
			}
			if host.tapCount() != 0 {
				t.Fatalf("tap not released: %d taken", host.tapCount())
			}
			if p := host.drv.lastProcess(); p.PID != 0 && p.PID != vm.PID && p.Alive() {
				t.Fatalf("vmm pid %d of the failed start still runs", p.PID)
			}

			// Fix the cause: the next start works and clears the error.
			host.drv.mu.Lock()
			host.drv.failStart, host.drv.exits, host.drv.logLine, host.drv.console = nil, false, "", ""
			host.drv.mu.Unlock()
			td.opts.SSHReady = ready
			started, err := td.StartVM(ctx, "flaky", nil)
			if err != nil {
				t.Fatalf("start after the fix: %v", err)
			}
			if started.State != api.StateRunning || started.PID == 0 || started.LastError != "" || host.tapCount() != 1 {
				t.Fatalf("after the fix: %+v taps=%d", started, host.tapCount())
			}
			td.DeleteVM(ctx, "flaky", true)
		})
	}
}

// TestDriverLimitsTheMachine: a VMM's own size rule (Firecracker's even
// vCPU count) comes from its driver, on create and on a resize.
func TestDriverLimitsTheMachine(t *testing.T) {
	host := newFakeHost()
	host.drv.oneVCPU = true
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	_, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "odd", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 2}, nil)
	if err == nil || !strings.Contains(err.Error(), "vcpu count 2 is not allowed: fake allows 1") {
		t.Fatalf("create with 2 vcpus: %v", err)
	}
	td.create(t, "even")
	if _, err := td.StopVM(ctx, "even", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
		t.Fatal(err)
	}
	two := 2
	if _, err := td.SetVM(ctx, "even", api.SetVMRequest{VCPUs: &two}); err == nil || !strings.Contains(err.Error(), "vcpu count 2 is not allowed") {
		t.Fatalf("set --vcpu 2: %v", err)
	}
	if got, _ := td.GetVM(ctx, "even"); got.VCPUs != 1 {
		t.Fatalf("refused resize changed the vm: %d vcpus", got.VCPUs)
	}
}

// TestErrorStateIsFinished: a VM left in the error state (a failed start
// whose VMM outlived the undo) is cleaned up by the next start, or by the
// supervisor once its VMM exits.
func TestErrorStateIsFinished(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	vm := td.create(t, "stuck")
	toError := func() {
		t.Helper()
		if _, err := td.store.UpdateVM(ctx, vm.ID, func(s *store.VM) error {
			s.State, s.LastError = api.StateError, "start failed: the fake process (pid 1) did not exit"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	toError()
	old := vmm.Process{PID: vm.PID}
	started, err := td.StartVM(ctx, "stuck", nil)
	if err != nil {
		t.Fatalf("start from the error state: %v", err)
	}
	if old.Alive() || started.State != api.StateRunning || started.PID == vm.PID || started.LastError != "" || host.tapCount() != 1 {
		t.Fatalf("start from the error state: old vmm alive=%v, vm %+v, taps %d", old.Alive(), started, host.tapCount())
	}

	toError()
	(vmm.Process{PID: started.PID}).Terminate(ctx, time.Second)
	td.waitStopped(t, "stuck")
	if host.tapCount() != 0 {
		t.Error("tap not released after the error-state vmm died")
	}
	td.DeleteVM(ctx, "stuck", false)
}

// progressFn records a lifecycle operation's progress in a test.
type progressFn func(api.Event)

func (f progressFn) Report(ev api.Event) { f(ev) }
