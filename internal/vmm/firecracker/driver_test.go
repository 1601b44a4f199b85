package firecracker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/agent/agentproto"
	"banger/internal/paths"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
	"banger/internal/vmm/firecracker/fctest"
)

// TestMain doubles as the fake Firecracker: the tests run the test binary
// through a symlink named "firecracker", and then it serves fctest's fake
// API instead of running tests.
// With the argument "logpump" it is bangerd's log pump.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "firecracker" {
		os.Exit(fctest.Main(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == bootlog.Subcommand {
		os.Exit(bootlog.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testPump runs the log pump from this test binary.
func testPump(t *testing.T) bootlog.Pump {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bootlog.Pump{Argv: []string{exe, bootlog.Subcommand}}
}

type vmFixture struct {
	t      *testing.T
	drv    *Driver
	spec   vmm.Spec
	pidLog string
}

// newVM prepares a VM directory with stand-in kernel, initrd and disks and a
// driver whose binary is the fake Firecracker.
func newVM(t *testing.T, mode string) *vmFixture {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "firecracker")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vd := paths.VMDir(dir)
	for _, p := range []string{"vmlinux", "initrd.img", "rootfs.ext4", vd.Overlay(), vd.WorkDisk()} {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := os.WriteFile(p, []byte("stand-in"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &vmFixture{t: t, pidLog: filepath.Join(t.TempDir(), "pids")}
	t.Setenv(fctest.EnvMode, mode)
	t.Setenv(fctest.EnvPIDLog, f.pidLog)
	f.drv = New(Options{Binary: bin, StartTimeout: 2 * time.Second, LogPump: testPump(t)})
	f.spec = vmm.Spec{
		ID:          "0123abcd",
		Name:        "calm-otter",
		Dir:         dir,
		Kernel:      filepath.Join(dir, "vmlinux"),
		Initrd:      filepath.Join(dir, "initrd.img"),
		BootArgs:    "console=ttyS0 reboot=k panic=1",
		VCPUs:       2,
		MemoryMiB:   1024,
		Disks:       []vmm.Disk{{ID: "rootfs", Path: filepath.Join(dir, "rootfs.ext4"), ReadOnly: true}, {ID: "overlay", Path: vd.Overlay()}, {ID: "work", Path: vd.WorkDisk()}},
		TAP:         "bgr-0123",
		MAC:         "02:fc:01:23:ab:cd",
		AgentSocket: vd.VsockSocket(),
		LogPath:     vd.BootLog("firecracker", 1),
		PIDFile:     vd.PIDFile(),
	}
	t.Cleanup(f.killAll)
	return f
}

// pids lists every fake process this fixture started.
func (f *vmFixture) pids() []int {
	b, _ := os.ReadFile(f.pidLog)
	var out []int
	for _, s := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func (f *vmFixture) killAll() {
	for _, pid := range f.pids() {
		if p, err := vmm.Identify(pid); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			p.Terminate(ctx, time.Second)
			cancel()
		}
	}
}

// assertNothingLeft checks that a failed start left no process, socket or
// pid file.
func (f *vmFixture) assertNothingLeft() {
	f.t.Helper()
	if len(f.pids()) == 0 {
		f.t.Fatal("the fake firecracker never ran")
	}
	for _, pid := range f.pids() {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			f.t.Errorf("fake firecracker pid %d still exists (kill 0: %v)", pid, err)
		}
	}
	for _, p := range []string{paths.VMDir(f.spec.Dir).APISocket(), f.spec.AgentSocket, f.spec.PIDFile} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			f.t.Errorf("%s left behind (%v)", p, err)
		}
	}
}

// readLog waits for the log pump of a VMM that has exited to finish (it
// exits at EOF, a moment after the VMM) and returns the log.
func (f *vmFixture) readLog(path string) string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if time.Now().After(deadline) || !f.pumpRunning(path) {
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pumpRunning reports whether a log pump writing path still runs.
func (f *vmFixture) pumpRunning(path string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "\x00"+bootlog.Subcommand+"\x00") && strings.Contains(string(b), path) {
			return true
		}
	}
	return false
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartBootsAndShutsDown(t *testing.T) {
	f := newVM(t, "")
	ctx := ctxT(t)
	p, err := f.drv.Start(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Alive() {
		t.Fatal("process not alive after Start")
	}
	if b, err := os.ReadFile(f.spec.PIDFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(p.PID) {
		t.Fatalf("pid file: %q, %v; want %d", b, err, p.PID)
	}
	info, err := NewClient(paths.VMDir(f.spec.Dir).APISocket()).DescribeInstance(ctx)
	if err != nil || info.State != StateRunning || info.ID != f.spec.ID {
		t.Fatalf("instance info %+v, %v", info, err)
	}

	// The agent socket is Firecracker's vsock muxer: the handshake reaches
	// the (fake) guest agent and the stream flows.
	c, err := net.Dial("unix", f.spec.AgentSocket)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "CONNECT "+strconv.Itoa(agentproto.Port)+"\n")
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK ") {
		t.Fatalf("vsock handshake: %q, %v", line, err)
	}
	io.WriteString(c, "GET /health HTTP/1.0\r\n")
	if line, err := r.ReadString('\n'); err != nil || line != "GET /health HTTP/1.0\r\n" {
		t.Fatalf("vsock stream: %q, %v", line, err)
	}
	c.Close()

	att, err := f.drv.Attach(ctx, f.spec, p)
	if err != nil {
		t.Fatal(err)
	}
	att.Close()

	if err := f.drv.RequestShutdown(ctx, f.spec, p); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.WaitExit(wctx); err != nil {
		t.Fatal(err)
	}
	if err := f.drv.RequestShutdown(ctx, f.spec, p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("shutdown of a stopped vm: %v", err)
	}
	if _, err := f.drv.Attach(ctx, f.spec, p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("attach to a stopped vm: %v", err)
	}
	log := f.readLog(f.spec.LogPath)
	for _, want := range []string{"Running Firecracker", "Command line: " + f.spec.BootArgs, "Restarting system"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// Firecracker leaves its sockets behind; the next start (the next
	// boot, with its own log) removes them.
	f.spec.LogPath = paths.VMDir(f.spec.Dir).BootLog("firecracker", 2)
	if _, err := os.Lstat(f.spec.AgentSocket); err != nil {
		t.Fatalf("expected a stale vsock socket after exit: %v", err)
	}
	p2, err := f.drv.Start(ctx, f.spec)
	if err != nil {
		t.Fatalf("restart over stale sockets: %v", err)
	}
	if err := p2.Terminate(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestStartSurfacesFaultMessage(t *testing.T) {
	f := newVM(t, "")
	// A Firecracker that does not know "smt" rejects banger's body.
	t.Setenv(fctest.EnvDropFields, "MachineConfiguration.smt")
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	t.Log(err)
	for _, want := range []string{
		"configure machine",
		"firecracker PUT /machine-config: 400: An error occurred when deserializing the json body of a request: unknown field `smt`",
		f.spec.LogPath,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("error does not wrap an APIError: %v", err)
	}
	f.assertNothingLeft()
}

func TestStartFailsWhenFirecrackerDies(t *testing.T) {
	f := newVM(t, "die")
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	t.Log(err)
	// The death itself ends the wait (not the socket timeout or ctx).
	for _, want := range []string{"wait for api socket", "firecracker exited (exit status 1) before serving", "Error opening /dev/kvm", "Firecracker exiting with error", f.spec.LogPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	f.assertNothingLeft()
}

func TestStartTimesOutAndKills(t *testing.T) {
	f := newVM(t, "hang")
	f.drv.startTimeout = 300 * time.Millisecond
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil || !strings.Contains(err.Error(), "did not appear within 300ms") {
		t.Fatalf("got %v", err)
	}
	f.assertNothingLeft()
}

func TestStartRefusesSocketInUse(t *testing.T) {
	f := newVM(t, "")
	sock := paths.VMDir(f.spec.Dir).APISocket()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = f.drv.Start(ctxT(t), f.spec)
	if err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("got %v", err)
	}
	if len(f.pids()) != 0 {
		t.Fatal("firecracker was launched over a live socket")
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	}
}

func TestStartValidatesBeforeLaunch(t *testing.T) {
	f := newVM(t, "")
	f.spec.VCPUs = 3
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil || !strings.Contains(err.Error(), "vcpu count 3 is odd") {
		t.Fatalf("got %v", err)
	}
	if len(f.pids()) != 0 {
		t.Fatal("firecracker was launched for an invalid spec")
	}
}

func TestStartRefusesOldFirecracker(t *testing.T) {
	f := newVM(t, "")
	t.Setenv(fctest.EnvVersion, "1.7.0")
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil {
		t.Fatal("Start accepted firecracker 1.7.0")
	}
	for _, want := range []string{"check firecracker version", "firecracker 1.7.0 is too old", "needs firecracker 1.8.0 or newer", f.spec.LogPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	f.assertNothingLeft()
}

// A guest poweroff leaves Firecracker running on x86; the log pump sees
// the kernel's power-off line and ends this VM's process.
func TestGuestPowerOffEndsFirecracker(t *testing.T) {
	f := newVM(t, "")
	ctx := ctxT(t)
	p, err := f.drv.Start(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	other := newVM(t, "")
	op, err := other.drv.Start(ctx, other.spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", f.spec.AgentSocket)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "CONNECT "+strconv.Itoa(fctest.PowerOffPort)+"\n")
	c.Close()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitExit(wctx); err != nil {
		t.Fatalf("firecracker still runs after the guest powered off: %v\nlog:\n%s", err, f.readLog(f.spec.LogPath))
	}
	if log := f.readLog(f.spec.LogPath); !strings.Contains(log, "reboot: Power down") {
		t.Fatalf("log lacks the power-off line:\n%s", log)
	}
	if !op.Alive() {
		t.Fatal("another vm's firecracker was ended")
	}
}

// Firecracker's output is one capped file per boot, whatever the guest
// prints.
func TestFirecrackerLogIsCapped(t *testing.T) {
	f := newVM(t, "")
	f.drv.pump.MaxBytes = 1500 // the fake logs every API body: more than this
	ctx := ctxT(t)
	p, err := f.drv.Start(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.drv.RequestShutdown(ctx, f.spec, p); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitExit(ctx); err != nil {
		t.Fatal(err)
	}
	log := f.readLog(f.spec.LogPath)
	i := strings.Index(log, "\n"+bootlog.DropMarker)
	if i != 1500 || strings.Count(log[i+1:], "\n") != 1 {
		t.Fatalf("log is %d bytes, marker at %d, want 1500 bytes then one marker line:\n%s", len(log), i, log)
	}
	if !strings.Contains(log[:i], "Running Firecracker") {
		t.Fatalf("log does not start with firecracker's first lines:\n%s", log)
	}
}

func TestHostCheck(t *testing.T) {
	f := newVM(t, "")
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, nil, 0o600)
	v, err := HostCheck{Binary: f.drv.binary, KVMDevice: kvm}.Check(context.Background())
	if err != nil || v.String() != fctest.Version {
		t.Fatalf("Check = %v, %v; want %s", v, err, fctest.Version)
	}

	t.Setenv(fctest.EnvVersion, "1.7.1")
	_, err = HostCheck{Binary: f.drv.binary, KVMDevice: kvm}.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "firecracker 1.7.1 is too old: banger needs firecracker 1.8.0 or newer") {
		t.Fatalf("old version: %v", err)
	}
	t.Setenv(fctest.EnvVersion, "1.8.0")
	// A KVM device this user cannot open read-write.
	ro := filepath.Join(t.TempDir(), "kvm-ro")
	os.WriteFile(ro, nil, 0o400)
	_, err = HostCheck{Binary: f.drv.binary, KVMDevice: ro}.Check(context.Background())
	if os.Geteuid() != 0 && (err == nil || !strings.Contains(err.Error(), "firecracker needs "+ro+" read-write")) {
		t.Fatalf("unopenable kvm: %v", err)
	}
	_, err = HostCheck{Binary: f.drv.binary, KVMDevice: filepath.Join(t.TempDir(), "none")}.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing kvm: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"Firecracker v1.16.1\n\n": "1.16.1",
		"1.8.0":                   "1.8.0",
		"v1.12.0-dev":             "1.12.0",
	} {
		v, err := ParseVersion(in)
		if err != nil || v.String() != want {
			t.Errorf("ParseVersion(%q) = %v, %v", in, v, err)
		}
	}
	if _, err := ParseVersion("unknown"); err == nil {
		t.Error("no error for a string without a version")
	}
	if !(Version{1, 7, 9}).Less(MinVersion) || (Version{1, 8, 0}).Less(MinVersion) || (Version{2, 0, 0}).Less(MinVersion) {
		t.Error("Less disagrees with MinVersion 1.8.0")
	}
}
