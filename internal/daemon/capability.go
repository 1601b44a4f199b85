package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/network"
	"banger/internal/store"
	"banger/internal/vmm"
)

// capability is one host integration of a VM: its disks, DNS record, TAP,
// NAT rules, VMM process and agent transport. The lifecycle runs them in
// order and unwinds in reverse: create prepares and then attaches every
// capability, start attaches, stop detaches, delete destroys. When a step
// fails, the steps before it are undone, so nothing half-built is left.
type capability interface {
	name() string
	// prepare makes what a VM keeps while stopped (create only).
	prepare(ctx context.Context, op *vmOp) error
	// attach wires the capability up for a boot (create and start).
	attach(ctx context.Context, op *vmOp) error
	// detach releases what only a running VM holds. It is idempotent and
	// also runs when the VMM died on its own.
	detach(ctx context.Context, op *vmOp) error
	// destroy removes what prepare made (delete).
	destroy(ctx context.Context, op *vmOp) error
}

// vmOp is one lifecycle operation on one VM.
type vmOp struct {
	v   *store.VM
	img store.Image // create only
	drv vmm.Driver  // attach only
	p   api.Progress
	// resumed is set when the vmm step restored a suspended guest;
	// restoreErr says why a suspended guest was booted cold instead.
	resumed    bool
	restoreErr string
	clockErr   error
}

// base gives capabilities no-op steps to override.
type base struct{ d *Daemon }

func (base) prepare(context.Context, *vmOp) error { return nil }
func (base) attach(context.Context, *vmOp) error  { return nil }
func (base) detach(context.Context, *vmOp) error  { return nil }
func (base) destroy(context.Context, *vmOp) error { return nil }

// capabilities in the order they are brought up.
func (d *Daemon) capabilities() []capability {
	b := base{d}
	return []capability{diskCap{b}, sshConfigCap{b}, dnsCap{b}, tapCap{b}, natCap{b}, vmmCap{b}, agentCap{b}, resumeCap{b}, forwardCap{b}}
}

// prepareAll runs every prepare step, registering destroys on r.
func (d *Daemon) prepareAll(ctx context.Context, op *vmOp, r *revert) error {
	for _, c := range d.capabilities() {
		if err := c.prepare(ctx, op); err != nil {
			return err
		}
		c := c
		r.add("destroy "+c.name(), func(ctx context.Context) error { return c.destroy(ctx, op) })
	}
	return nil
}

// attachAll boots the VM, registering detaches on r.
func (d *Daemon) attachAll(ctx context.Context, op *vmOp, r *revert) error {
	for _, c := range d.capabilities() {
		if err := c.attach(ctx, op); err != nil {
			return err
		}
		c := c
		r.add("detach "+c.name(), func(ctx context.Context) error { return c.detach(ctx, op) })
	}
	op.v.State, op.v.StartedAt, op.v.LastError = api.StateRunning, time.Now(), ""
	return nil
}

// detachAll releases a VM's runtime resources in reverse order, carrying
// on past failures, and returns them joined.
func (d *Daemon) detachAll(ctx context.Context, v *store.VM) error {
	caps := d.capabilities()
	op := &vmOp{v: v}
	var errs []error
	for i := len(caps) - 1; i >= 0; i-- {
		if err := caps[i].detach(ctx, op); err != nil {
			d.log.Warn("detach", "vm", v.Name, "capability", caps[i].name(), "error", err)
			errs = append(errs, fmt.Errorf("detach %s: %w", caps[i].name(), err))
		}
	}
	return errors.Join(errs...)
}

// destroyAll removes everything a VM owns, in reverse order.
func (d *Daemon) destroyAll(ctx context.Context, v *store.VM) error {
	caps := d.capabilities()
	op := &vmOp{v: v}
	var errs []error
	for i := len(caps) - 1; i >= 0; i-- {
		if err := caps[i].destroy(ctx, op); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", caps[i].name(), err))
		}
	}
	return errors.Join(errs...)
}

// diskCap: the overlay with the rendered guest config, the work disk, the
// VM's host key in banger's known_hosts and its agent token.
type diskCap struct{ base }

func (diskCap) name() string { return "disks" }

func (c diskCap) prepare(ctx context.Context, op *vmOp) error {
	d := c.d
	progressf(op.p, op.v.Name, "disks", "writing overlay and work disk")
	start := time.Now()
	if err := os.MkdirAll(d.vmDir(op.v.ID).String(), 0o700); err != nil {
		return fmt.Errorf("create vm dir: %w", err)
	}
	hostPub, err := d.prepareDisks(ctx, op.v, op.img)
	if err != nil {
		os.RemoveAll(d.vmDir(op.v.ID).String())
		return err
	}
	d.log.Info("disks ready", "vm", op.v.Name, "ms", time.Since(start).Milliseconds())
	if err := d.knownHosts.Add(op.v.ID, hostPub); err != nil {
		os.RemoveAll(d.vmDir(op.v.ID).String())
		return err
	}
	return nil
}

// attach keeps the VM's directory private and, on a start, writes the
// agent token into the overlay again (create has just written it; a
// resume must not touch the overlay).
func (c diskCap) attach(ctx context.Context, op *vmOp) error {
	if err := restrictVMDir(c.d.vmDir(op.v.ID)); err != nil {
		return err
	}
	// A suspended guest has the overlay mounted in its saved memory:
	// writing the image under it would corrupt the file system on resume.
	if op.img.ID != "" || op.v.State == api.StateSuspended {
		return nil
	}
	return c.d.syncAgentToken(ctx, op.v)
}

func (c diskCap) destroy(_ context.Context, op *vmOp) error {
	if err := c.d.knownHosts.Remove(op.v.ID); err != nil {
		// A stale line is harmless (aliases are per VM id); the VM still goes.
		c.d.log.Warn("remove host key", "vm", op.v.Name, "error", err)
	}
	dir := c.d.vmDir(op.v.ID).String()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// dnsCap: the <name>.vm record, kept while the VM is stopped.
type dnsCap struct{ base }

func (dnsCap) name() string { return "dns" }
func (c dnsCap) prepare(_ context.Context, op *vmOp) error {
	c.d.host.SetDNS(op.v.Name, op.v.IP)
	return nil
}
func (c dnsCap) destroy(_ context.Context, op *vmOp) error {
	c.d.host.DeleteDNS(op.v.Name)
	return nil
}

// tapCap: the bridge and the VM's TAP from the pool.
type tapCap struct{ base }

func (tapCap) name() string { return "tap" }

func (c tapCap) attach(ctx context.Context, op *vmOp) error {
	progressf(op.p, op.v.Name, "network", "preparing bridge and tap")
	if err := c.d.host.EnsureNetwork(ctx); err != nil {
		return apierr.Unavailable("bridge and TAP setup need root or a sudoers rule; `banger doctor` prints the exact line", "prepare network: %w", err)
	}
	tap, err := c.d.host.TakeTAP(ctx, network.MACFromID(op.v.ID), op.v.IP)
	if err != nil {
		return err
	}
	op.v.TAP = tap
	return nil
}

func (c tapCap) detach(ctx context.Context, op *vmOp) error {
	if op.v.TAP == "" {
		return nil
	}
	err := c.d.host.ReleaseTAP(ctx, op.v.TAP)
	op.v.TAP = ""
	return err
}

// natCap: MASQUERADE and FORWARD rules for --nat VMs.
type natCap struct{ base }

func (natCap) name() string { return "nat" }

func (c natCap) attach(ctx context.Context, op *vmOp) error {
	if !op.v.NAT {
		return nil
	}
	progressf(op.p, op.v.Name, "nat", "adding NAT rules")
	if err := c.d.host.ApplyNAT(ctx, op.v.ID, op.v.IP, op.v.TAP); err != nil {
		return apierr.Unavailable("run `banger doctor` (iptables, privileges), or create the VM without --nat", "apply nat: %w", err)
	}
	return nil
}

func (c natCap) detach(ctx context.Context, op *vmOp) error {
	if !op.v.NAT {
		return nil
	}
	return c.d.host.RemoveNAT(ctx, op.v.ID)
}

// vmmCap: the VMM process.
type vmmCap struct{ base }

func (vmmCap) name() string { return "vmm" }

func (c vmmCap) attach(ctx context.Context, op *vmOp) error {
	d, v, drv := c.d, op.v, op.drv
	progressf(op.p, v.Name, "boot", "starting %s (%s)", drv.Name(), drv.Accel())
	v.VMM, v.Accel = drv.Name(), drv.Accel()
	start := time.Now()
	spec, err := d.bootSpec(v)
	if err != nil {
		return fmt.Errorf("start %s: %w", drv.Name(), err)
	}
	proc, err := d.restoreOrBoot(ctx, op, spec)
	if err != nil {
		return fmt.Errorf("start %s: %w", drv.Name(), err)
	}
	d.log.Info("vmm started", "vm", v.Name, "pid", proc.PID, "ms", time.Since(start).Milliseconds())
	v.PID, v.PIDStart = proc.PID, proc.StartTime
	return restrictVMDir(d.vmDir(v.ID))
}

// vmmKillWait bounds how long detach waits for a VMM to die after SIGKILL.
// A process stuck in uninterruptible sleep (a hung disk or device) outlives
// SIGKILL; detach then reports it instead of blocking the VM's lock forever.
const vmmKillWait = 30 * time.Second

// detach makes sure the VMM is gone (a clean stop has already waited for
// it) and removes its sockets and pidfile. A VMM that survives SIGKILL
// keeps its pid in the record and its files, and detach fails.
func (c vmmCap) detach(ctx context.Context, op *vmOp) error {
	v := op.v
	if p := procOf(v); p.Alive() {
		const grace = 3 * time.Second
		tctx, cancel := context.WithTimeout(ctx, grace+vmmKillWait)
		err := p.Terminate(tctx, grace)
		cancel()
		if p.Alive() {
			if err == nil {
				err = errors.New("still running")
			}
			return fmt.Errorf("stop %s pid %d: %w", v.VMM, p.PID, err)
		}
	}
	dir := c.d.vmDir(v.ID)
	for _, f := range []string{dir.APISocket(), dir.VsockSocket(), dir.SerialSocket(), dir.PIDFile(), filepath.Join(dir.String(), "qmp.sock")} {
		os.Remove(f)
	}
	v.PID, v.PIDStart = 0, 0
	return nil
}

// agentCap: the driver's host-side helpers for the guest agent socket (the
// serial multiplexer on qemu without vhost-vsock).
type agentCap struct{ base }

func (agentCap) name() string { return "agent" }
func (c agentCap) attach(ctx context.Context, op *vmOp) error {
	return c.d.attach(ctx, op.v, op.drv)
}
func (c agentCap) detach(_ context.Context, op *vmOp) error {
	c.d.detach(op.v.ID)
	return nil
}
