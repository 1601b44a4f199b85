// Package firecracker is banger's Firecracker VMM driver: it launches
// `firecracker --api-sock` detached as the current user, configures the
// microVM through a thin standard-library client of the API pinned to
// v1.16.1, boots it, and asks it to stop with Ctrl-Alt-Del. It owns the
// Firecracker API wire types and nothing above the vmm.Driver interface;
// it never touches networking, disks or guest configuration.
//
// Output: Firecracker's stdout and stderr (its own log at the default Info
// level and the guest's serial console) go through the capped log pump of
// internal/vmm/bootlog into Spec.LogPath, this boot's firecracker.N.log.
// Firecracker before 1.14 cannot separate the console (PUT /serial), so
// Spec.ConsolePath is unused. No PUT /logger is sent: one stream keeps the
// console and Firecracker's messages in order.
//
// Guest poweroff: on x86 Firecracker keeps running after the guest powers
// off. The log pump, which reads the console anyway, ends this VM's
// Firecracker process when the guest kernel prints its power-off line; see
// bootlog.Main for why this is safe against a guest printing that line.
//
// Versions: Firecracker 1.8 or newer (MinVersion), checked with
// `firecracker --version` by HostCheck before Firecracker is chosen and
// from GET / at every start.
package firecracker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
)

// Options configures the driver.
type Options struct {
	// Binary is the firecracker executable; empty means "firecracker" on
	// PATH.
	Binary string
	Logger *slog.Logger
	// StartTimeout bounds the wait for the API socket after launch;
	// zero means 5 seconds.
	StartTimeout time.Duration
	// LogPump runs the per-boot log pump (bangerd logpump); required.
	LogPump bootlog.Pump
}

// Driver implements vmm.Driver for Firecracker.
type Driver struct {
	binary       string
	log          *slog.Logger
	startTimeout time.Duration
	pump         bootlog.Pump
}

var _ vmm.Driver = (*Driver)(nil)

// New returns a driver.
func New(opts Options) *Driver {
	d := &Driver{binary: opts.Binary, log: opts.Logger, startTimeout: opts.StartTimeout, pump: opts.LogPump}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.startTimeout <= 0 {
		d.startTimeout = 5 * time.Second
	}
	return d
}

func (d *Driver) Name() string  { return "firecracker" }
func (d *Driver) Accel() string { return "kvm" }

// Start launches Firecracker for spec and boots the guest. See launch.go.
func (d *Driver) Start(ctx context.Context, spec vmm.Spec) (vmm.Process, error) {
	if err := validateSpec(spec); err != nil {
		return vmm.Process{}, fmt.Errorf("start firecracker vm %s: %w", spec.Name, err)
	}
	bin, err := d.resolveBinary()
	if err != nil {
		return vmm.Process{}, fmt.Errorf("start firecracker vm %s: %w", spec.Name, err)
	}
	return d.launch(ctx, bin, spec, configSteps(spec))
}

// Attach has nothing to reconnect: Firecracker serves the agent's vsock
// socket itself. It only checks that the VMM still runs.
func (d *Driver) Attach(_ context.Context, spec vmm.Spec, p vmm.Process) (vmm.Attachment, error) {
	if !p.Alive() {
		return nil, fmt.Errorf("attach to firecracker vm %s (pid %d): %w", spec.Name, p.PID, vmm.ErrNotRunning)
	}
	return nopAttachment{}, nil
}

type nopAttachment struct{}

func (nopAttachment) Close() error { return nil }

// RequestShutdown sends Ctrl-Alt-Del. The guest boots with reboot=k, so
// its reboot ends the Firecracker process; callers wait for that with
// Process.WaitExit and fall back to Process.Terminate.
func (d *Driver) RequestShutdown(ctx context.Context, spec vmm.Spec, p vmm.Process) error {
	if !p.Alive() {
		return fmt.Errorf("shut down firecracker vm %s (pid %d): %w", spec.Name, p.PID, vmm.ErrNotRunning)
	}
	c := NewClient(paths.VMDir(spec.Dir).APISocket())
	if err := c.Action(ctx, ActionSendCtrlAltDel); err != nil {
		return fmt.Errorf("shut down firecracker vm %s: %w", spec.Name, err)
	}
	d.log.Info("sent ctrl-alt-del", "vm", spec.Name, "pid", p.PID)
	return nil
}

func (d *Driver) resolveBinary() (string, error) {
	if d.binary != "" {
		return d.binary, nil
	}
	return execx.LookPath("firecracker")
}
