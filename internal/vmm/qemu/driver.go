// Package qemu is banger's qemu VMM driver: it boots the bundle kernel in a
// `qemu-system-x86_64 -M microvm` process launched detached as the current
// user, controls it over QMP, and provides the guest agent's
// Firecracker-style vsock socket (through vhost-vsock where the host has
// /dev/vhost-vsock, otherwise through the virtio-serial mux of
// internal/vsock). It also owns the KVM boot probe that decides between
// -accel kvm and tcg. It never touches networking, disks or guest
// configuration, and nothing above vmm.Driver knows it is qemu.
//
// Output: qemu's own stdout and stderr go to Spec.LogPath and the guest's
// serial console to Spec.ConsolePath (or into Spec.LogPath when no console
// path is given), each through the capped log pump of internal/vmm/bootlog:
// the caller names one file per boot, and neither grows past the cap
// however long the guest prints.
//
// TCG guests get tsc_early_khz= on their command line (see tsc_amd64.go):
// without it a loaded host makes their TSC calibration fail and they hang.
//
// Stopping: qemu runs with -no-reboot, so a guest reboot ends the process
// just as it ends Firecracker (the agent's reboot request works unchanged),
// and a guest poweroff ends it too (ACPI S5). RequestShutdown presses the
// ACPI power button (system_powerdown), which systemd-logind turns into a
// poweroff. A qemu microvm has no i8042, so there is no Ctrl-Alt-Del.
package qemu

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
)

// Options configures the driver.
type Options struct {
	// Binary is the qemu executable; empty means qemu-system-x86_64 on PATH.
	Binary string
	// Accel is "kvm" or "tcg" (the default); ProbeKVM decides which.
	Accel  string
	Logger *slog.Logger
	// HaveVhostVsock gives guests a vhost-vsock device instead of the
	// virtio-serial agent port; see DetectVhostVsock.
	HaveVhostVsock bool
	// StartTimeout bounds the wait for qemu's QMP socket after launch;
	// zero means 30 seconds (TCG on a loaded host is slow to start).
	StartTimeout time.Duration
	// LogPump runs the per-boot log pump (bangerd logpump); required.
	LogPump bootlog.Pump
}

// Driver implements vmm.Driver for qemu.
type Driver struct {
	binary       string
	accel        string
	log          *slog.Logger
	vhostVsock   bool
	startTimeout time.Duration
	tscKHz       func() uint64 // measured once, on the first TCG start
	pump         bootlog.Pump
}

var _ vmm.Driver = (*Driver)(nil)

// DefaultBinary is the qemu executable looked up on PATH.
const DefaultBinary = "qemu-system-x86_64"

// New returns a driver.
func New(opts Options) *Driver {
	d := &Driver{
		binary:       opts.Binary,
		accel:        opts.Accel,
		log:          opts.Logger,
		vhostVsock:   opts.HaveVhostVsock,
		startTimeout: opts.StartTimeout,
		pump:         opts.LogPump,
		tscKHz:       sync.OnceValue(hostTSCkHz),
	}
	if d.accel == "" {
		d.accel = "tcg"
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.startTimeout <= 0 {
		d.startTimeout = 30 * time.Second
	}
	return d
}

func (d *Driver) Name() string  { return "qemu" }
func (d *Driver) Accel() string { return d.accel }

// Start launches qemu for spec and returns once QMP reports the guest
// running. See launch.go.
func (d *Driver) Start(ctx context.Context, spec vmm.Spec) (vmm.Process, error) {
	bin, err := resolveBinary(d.binary)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("start qemu vm %s: %w", spec.Name, err)
	}
	return d.launch(ctx, bin, spec, nil)
}

// RequestShutdown presses the guest's ACPI power button over QMP. It
// returns once qemu has accepted the request; the caller waits for the
// process to exit. A press is not queued: one that comes before the guest
// has loaded its button driver and started logind (early in boot) is lost,
// so a caller still waiting after a few seconds may press again.
func (d *Driver) RequestShutdown(ctx context.Context, spec vmm.Spec, p vmm.Process) error {
	if !p.Alive() {
		return vmm.ErrNotRunning
	}
	c, err := dialQMP(ctx, paths.VMDir(spec.Dir).APISocket())
	if err != nil {
		return fmt.Errorf("request shutdown of vm %s: %w", spec.Name, err)
	}
	defer c.Close()
	if err := c.systemPowerdown(ctx); err != nil {
		return fmt.Errorf("request shutdown of vm %s: %w", spec.Name, err)
	}
	d.log.Info("qemu power button pressed", "vm", spec.Name, "pid", p.PID)
	return nil
}

func resolveBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	return execx.LookPath(DefaultBinary)
}
