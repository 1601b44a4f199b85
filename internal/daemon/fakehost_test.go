package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"banger/internal/paths"
	"banger/internal/vmm"
)

// fakeHost records network and DNS operations in memory and boots "VMs"
// as sleep processes, so lifecycle logic runs for real without root.
type fakeHost struct {
	mu       sync.Mutex
	taps     map[string]bool // taken and not released
	nextTAP  int
	nat      map[string]bool
	dns      map[string]netip.Addr
	drv      *fakeDriver
	released []string
	natErr   error
}

func newFakeHost() *fakeHost {
	return &fakeHost{taps: map[string]bool{}, nat: map[string]bool{}, dns: map[string]netip.Addr{}, drv: &fakeDriver{}}
}

func (h *fakeHost) Driver(context.Context) (vmm.Driver, error) { return h.drv, nil }
func (h *fakeHost) DriverByName(_ context.Context, name string) (vmm.Driver, error) {
	if name != "fake" {
		return nil, fmt.Errorf("unknown vmm %q", name)
	}
	return h.drv, nil
}
func (h *fakeHost) EnsureNetwork(context.Context) error { return nil }
func (h *fakeHost) TakeTAP(context.Context, net.HardwareAddr, netip.Addr) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextTAP++
	name := fmt.Sprintf("bgt-%08x", h.nextTAP)
	h.taps[name] = true
	return name, nil
}
func (h *fakeHost) ReleaseTAP(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.taps, name)
	h.released = append(h.released, name)
	return nil
}
func (h *fakeHost) ApplyNAT(_ context.Context, id string, _ netip.Addr, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.natErr != nil {
		return h.natErr
	}
	h.nat[id] = true
	return nil
}
func (h *fakeHost) RemoveNAT(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.nat, id)
	return nil
}
func (h *fakeHost) ReconcileNetwork(_ context.Context, taps, nat map[string]bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.taps {
		if !taps[t] {
			delete(h.taps, t)
		}
	}
	for id := range h.nat {
		if !nat[id] {
			delete(h.nat, id)
		}
	}
	return nil
}
func (h *fakeHost) SetDNS(name string, ip netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dns[name] = ip
}
func (h *fakeHost) DeleteDNS(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.dns, name)
}
func (h *fakeHost) DNSAddr() string   { return "127.0.0.1:0" }
func (h *fakeHost) DNSError() string  { return "" }
func (h *fakeHost) VMMName() string   { return "fake" }
func (h *fakeHost) AccelName() string { return "none" }
func (h *fakeHost) Close()            {}

func (h *fakeHost) tapCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.taps)
}

// fakeDriver runs `sleep` as the VMM. Its command line carries the VM id
// like a real VMM's does.
type fakeDriver struct {
	mu        sync.Mutex
	failStart error
	attached  int
	deaf      bool   // ignores shutdown requests
	logLine   string // written to the VMM log when it starts
	console   string // written to the console log when it starts
	exits     bool   // the VMM exits on its own right after starting
	oneVCPU   bool   // refuses more than one vCPU (a VMM-specific size rule)
	last      vmm.Process
	procs     []*exec.Cmd
	agent     *fakeAgent // served on the agent socket at Attach when set
	suspends  int
	restores  int
}

// killAll ends every fake VMM this driver started: VMs outlive the daemon
// by design, so a test must not leave its `sleep`s behind.
func (f *fakeDriver) killAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.procs {
		_ = c.Process.Kill()
	}
	f.procs = nil
}

func (f *fakeDriver) Name() string  { return "fake" }
func (f *fakeDriver) Accel() string { return "none" }
func (f *fakeDriver) Start(_ context.Context, spec vmm.Spec) (vmm.Process, error) {
	f.mu.Lock()
	fail := f.failStart
	f.mu.Unlock()
	if fail != nil {
		return vmm.Process{}, fail
	}
	if f.console != "" {
		if err := os.WriteFile(spec.ConsolePath, []byte(f.console+"\n"), 0o644); err != nil {
			return vmm.Process{}, err
		}
	}
	if f.logLine != "" {
		if err := os.WriteFile(spec.LogPath, []byte(f.logLine+"\n"), 0o644); err != nil {
			return vmm.Process{}, err
		}
	}
	// Like a VMM run with a permissive umask, leave a world-writable API
	// socket in the VM's directory.
	if ln, err := net.Listen("unix", paths.VMDir(spec.Dir).APISocket()); err == nil {
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		os.Chmod(paths.VMDir(spec.Dir).APISocket(), 0o777)
	}
	f.mu.Lock()
	exits := f.exits
	f.mu.Unlock()
	script := "exec sleep 3600"
	if exits {
		// Like a guest kernel that panics: the VMM exits after a moment.
		script = "exec sleep 0.2"
	}
	cmd := exec.Command("sh", "-c", script, "fakevmm-"+spec.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return vmm.Process{}, err
	}
	f.mu.Lock()
	f.procs = append(f.procs, cmd)
	f.mu.Unlock()
	go cmd.Wait()
	p, err := vmm.Identify(cmd.Process.Pid)
	f.mu.Lock()
	f.last = p
	f.mu.Unlock()
	return p, err
}

// ValidateMachine implements vmm.MachineValidator.
func (f *fakeDriver) ValidateMachine(vcpus, _ int) error {
	if f.oneVCPU && vcpus > 1 {
		return fmt.Errorf("vcpu count %d is not allowed: fake allows 1", vcpus)
	}
	return nil
}

func (f *fakeDriver) lastProcess() vmm.Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}
func (f *fakeDriver) Attach(_ context.Context, spec vmm.Spec, _ vmm.Process) (vmm.Attachment, error) {
	f.mu.Lock()
	f.attached++
	a := f.agent
	f.mu.Unlock()
	if a != nil {
		return a.serve(spec)
	}
	return nopAttachment{}, nil
}
func (f *fakeDriver) RequestShutdown(_ context.Context, _ vmm.Spec, p vmm.Process) error {
	f.mu.Lock()
	deaf := f.deaf
	f.mu.Unlock()
	if deaf {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, vmm.ErrNotRunning) {
		return err
	}
	return nil
}

type nopAttachment struct{}

func (nopAttachment) Close() error { return nil }
