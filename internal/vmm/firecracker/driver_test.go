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
	"banger/internal/vmm/firecracker/fctest"
)

// TestMain doubles as the fake Firecracker: the tests run the test binary
// through a symlink named "firecracker", and then it serves fctest's fake
// API instead of running tests.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "firecracker" {
		os.Exit(fctest.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
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
	f.drv = New(Options{Binary: bin, StartTimeout: 2 * time.Second})
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
		LogPath:     vd.VMMLog("firecracker"),
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
	log, _ := os.ReadFile(f.spec.LogPath)
	for _, want := range []string{"Running Firecracker", "Command line: " + f.spec.BootArgs, "Restarting system"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// Firecracker leaves its sockets behind; the next start removes them.
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
	start := time.Now()
	_, err := f.drv.Start(ctxT(t), f.spec)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	t.Log(err)
	if time.Since(start) > time.Second {
		t.Errorf("death noticed after %s, not promptly", time.Since(start))
	}
	for _, want := range []string{"wait for api socket", "exit status 1", "Error opening /dev/kvm", "Firecracker exiting with error", f.spec.LogPath} {
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
