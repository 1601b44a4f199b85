package daemon

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/humanize"
	"banger/internal/store"
	"banger/internal/vmm"
)

// withVM resolves ref and runs fn with the VM's lock held and a fresh copy
// of its record.
func (d *Daemon) withVM(ctx context.Context, ref string, fn func(v *store.VM) error) (api.VM, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.VM{}, err
	}
	unlock := d.lockVM(v.ID)
	defer unlock()
	v, err = d.store.GetVM(ctx, v.ID)
	if err != nil {
		return api.VM{}, err
	}
	if err := fn(&v); err != nil {
		return api.VM{}, err
	}
	if v.ID == "" { // deleted
		return api.VM{}, nil
	}
	return d.toAPIVM(v), nil
}

// save writes the mutable fields of v.
func (d *Daemon) save(ctx context.Context, v *store.VM) error {
	_, err := d.store.UpdateVM(context.WithoutCancel(ctx), v.ID, func(s *store.VM) error {
		id, name, ip := s.ID, s.Name, s.IP
		*s = *v
		s.ID, s.Name, s.IP = id, name, ip
		return nil
	})
	return err
}

// StartVM boots a stopped VM.
func (d *Daemon) StartVM(ctx context.Context, ref string, p api.Progress) (api.VM, error) {
	return d.withVM(ctx, ref, func(v *store.VM) error { return d.startLocked(ctx, v, p, false) })
}

func (d *Daemon) startLocked(ctx context.Context, v *store.VM, p api.Progress, noWait bool) (err error) {
	if v.State == api.StateRunning && procOf(v).Alive() {
		progressf(p, v.Name, "start", "%s is already running", v.Name)
		return nil
	}
	if v.State == api.StateCreating {
		return apierr.Conflict("wait for the create to finish", "vm %s is still being created", v.Name)
	}
	if v.State == api.StateError {
		if err := d.finishFailedStart(ctx, v); err != nil {
			return err
		}
	}
	drv, err := d.host.DriverByName(ctx, v.VMM)
	if err != nil {
		return apierr.Unavailable("run `banger doctor`", "vm %s uses %s: %w", v.Name, v.VMM, err)
	}
	r := &revert{log: d.log}
	defer func() {
		if err != nil {
			d.failStart(ctx, v, r, err)
		}
	}()
	op := &vmOp{v: v, drv: drv, p: p}
	if err := d.attachAll(ctx, op, r); err != nil {
		return err
	}
	if op.restoreErr != "" {
		v.LastError = op.restoreErr
	}
	if err := d.save(ctx, v); err != nil {
		return err
	}
	if !noWait {
		if err := d.waitSSH(ctx, v, p); err != nil {
			return apierr.New(api.CodeUnavailable, err, "the whole boot is in `banger vm logs "+v.Name+"`")
		}
	}
	r.success()
	if op.resumed {
		d.emit(api.EventResumed, v.Name, "")
	} else {
		d.emit(api.EventStarted, v.Name, op.restoreErr)
	}
	return nil
}

// failStart undoes a start that failed and records the outcome with one
// store write: stopped, with no pid or TAP and the cause as LastError. Only
// when the VMM outlives the undo (stuck in uninterruptible sleep, see
// vmmCap.detach) is the VM left in the error state, with the pid kept: it is
// then neither running nor safely stopped, its disks may still be written,
// and a later start, stop or delete finishes the cleanup.
func (d *Daemon) failStart(ctx context.Context, v *store.VM, r *revert, cause error) {
	undoErr := r.run(ctx)
	v.State, v.LastError = api.StateStopped, "start failed: "+cause.Error()
	if procOf(v).Alive() {
		v.State = api.StateError
		v.LastError += fmt.Sprintf("\nthe %s process (pid %d) did not exit: %v", v.VMM, v.PID, undoErr)
	} else {
		v.PID, v.PIDStart, v.TAP = 0, 0, ""
	}
	if err := d.save(ctx, v); err != nil {
		d.log.Error("record failed start", "vm", v.Name, "error", err)
	}
	d.log.Warn("start failed", "vm", v.Name, "state", v.State, "error", cause)
	d.emit(api.EventStartFailed, v.Name, v.LastError)
}

// finishFailedStart releases what a failed start could not (its VMM would
// not die), so the VM can start again.
func (d *Daemon) finishFailedStart(ctx context.Context, v *store.VM) error {
	err := d.detachAll(context.WithoutCancel(ctx), v)
	if procOf(v).Alive() {
		return apierr.Conflict("check the process (uninterruptible sleep, a hung disk) and try again", "vm %s: a %s process from a failed start (pid %d) is still running: %w", v.Name, v.VMM, v.PID, err)
	}
	v.State = api.StateStopped
	return d.save(ctx, v)
}

// StopVM shuts a VM down cleanly, escalating after the timeout.
func (d *Daemon) StopVM(ctx context.Context, ref string, req api.StopRequest, p api.Progress) (api.VM, error) {
	timeout := 60 * time.Second
	if req.TimeoutSeconds > 0 {
		timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	return d.withVM(ctx, ref, func(v *store.VM) error { return d.stopLocked(ctx, v, timeout, p) })
}

func procOf(v *store.VM) vmm.Process { return vmm.Process{PID: v.PID, StartTime: v.PIDStart} }

func (d *Daemon) stopLocked(ctx context.Context, v *store.VM, timeout time.Duration, p api.Progress) error {
	ctx = context.WithoutCancel(ctx) // a stop, once begun, finishes
	proc := procOf(v)
	if proc.Alive() {
		progressf(p, v.Name, "shutdown", "asking the guest to shut down")
		if err := d.shutdownGuest(ctx, v, timeout); err != nil {
			progressf(p, v.Name, "shutdown", "guest did not stop within %s; terminating the vmm", timeout)
			if err := proc.Terminate(ctx, 5*time.Second); err != nil {
				return fmt.Errorf("terminate %s pid %d: %w", v.VMM, proc.PID, err)
			}
		}
	}
	d.detachAll(ctx, v)
	d.discardSnapshot(v) // a suspended vm's stop throws its saved memory away
	v.State = api.StateStopped
	if err := d.save(ctx, v); err != nil {
		return err
	}
	d.emit(api.EventStopped, v.Name, "")
	return nil
}

// shutdownGuest asks the guest to shut down and waits up to timeout for
// the VMM to exit. The agent is asked to reboot (the kernel runs with
// reboot=k/t, so the VMM exits); without an agent the VMM's own request
// (ACPI power button, Ctrl-Alt-Del) is repeated every few seconds, since a
// press that arrives before the guest listens for it is lost.
func (d *Daemon) shutdownGuest(ctx context.Context, v *store.VM, timeout time.Duration) error {
	proc := procOf(v)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	actx, acancel := context.WithTimeout(wctx, 3*time.Second)
	err := d.agentShutdown(actx, v)
	acancel()
	if err == nil {
		return proc.WaitExit(wctx)
	}
	d.log.Info("agent shutdown failed; asking the vmm", "vm", v.Name, "error", err)
	drv, err := d.host.DriverByName(ctx, v.VMM)
	if err != nil {
		return err
	}
	for {
		if err := drv.RequestShutdown(wctx, d.vmSpec(v), proc); err != nil && !proc.Alive() {
			return nil
		}
		rctx, rcancel := context.WithTimeout(wctx, 5*time.Second)
		err := proc.WaitExit(rctx)
		rcancel()
		if err == nil {
			return nil
		}
		if wctx.Err() != nil {
			return wctx.Err()
		}
	}
}

// RestartVM stops and starts a VM.
func (d *Daemon) RestartVM(ctx context.Context, ref string, p api.Progress) (api.VM, error) {
	return d.withVM(ctx, ref, func(v *store.VM) error {
		if v.State == api.StateRunning {
			if err := d.stopLocked(ctx, v, 60*time.Second, p); err != nil {
				return err
			}
		}
		return d.startLocked(ctx, v, p, false)
	})
}

// KillVM sends a signal to the VM's VMM process.
func (d *Daemon) KillVM(ctx context.Context, ref string, req api.KillRequest) (api.VM, error) {
	sig, err := ParseSignal(req.Signal)
	if err != nil {
		return api.VM{}, apierr.Invalid("%v", err)
	}
	return d.withVM(ctx, ref, func(v *store.VM) error {
		proc := procOf(v)
		if !proc.Alive() {
			return apierr.Conflict("start it with `banger vm start "+v.Name+"`", "vm %s is not running", v.Name)
		}
		if err := proc.Signal(sig); err != nil {
			return fmt.Errorf("signal %s pid %d: %w", v.VMM, proc.PID, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if proc.WaitExit(wctx) == nil {
			d.detachAll(ctx, v)
			v.State = api.StateStopped
			v.LastError = "killed with " + signalName(sig)
			d.emit(api.EventStopped, v.Name, v.LastError)
			return d.save(ctx, v)
		}
		return nil
	})
}

// DeleteVM removes a VM and everything it owns. A running VM needs force.
func (d *Daemon) DeleteVM(ctx context.Context, ref string, force bool) (api.VM, error) {
	var deleted api.VM
	_, err := d.withVM(ctx, ref, func(v *store.VM) error {
		ctx := context.WithoutCancel(ctx)
		proc := procOf(v)
		if proc.Alive() {
			if !force {
				return apierr.Conflict("stop it first (`banger vm stop "+v.Name+"`) or pass --force", "vm %s is running", v.Name)
			}
			if err := proc.Terminate(ctx, 3*time.Second); err != nil {
				return fmt.Errorf("terminate %s pid %d: %w", v.VMM, proc.PID, err)
			}
		}
		d.detachAll(ctx, v)
		if err := d.destroy(ctx, v); err != nil {
			return err
		}
		deleted = d.toAPIVM(*v)
		deleted.State = "deleted"
		*v = store.VM{}
		return nil
	})
	return deleted, err
}

// destroy removes a stopped VM's disks, DNS record, host key and record.
func (d *Daemon) destroy(ctx context.Context, v *store.VM) error {
	if err := d.destroyAll(ctx, v); err != nil {
		return err
	}
	if err := d.store.DeleteVM(ctx, v.ID); err != nil {
		return err
	}
	d.releaseImageFiles(ctx, v.Rootfs)
	d.emit(api.EventDeleted, v.Name, "")
	return nil
}

// SetVM changes settings. Memory, vCPUs and disk size need a stopped VM;
// NAT applies live.
func (d *Daemon) SetVM(ctx context.Context, ref string, req api.SetVMRequest) (api.VM, error) {
	if req.MemoryMiB == nil && req.VCPUs == nil && req.DiskSize == nil && req.NAT == nil {
		return api.VM{}, apierr.Invalid("nothing to change: give --memory, --vcpu, --disk-size, --nat or --no-nat")
	}
	return d.withVM(ctx, ref, func(v *store.VM) error {
		running := procOf(v).Alive()
		if v.State == api.StateSuspended && (req.MemoryMiB != nil || req.VCPUs != nil || req.DiskSize != nil || req.NAT != nil) {
			return apierr.Conflict("resume it (`banger vm resume "+v.Name+"`) or stop it, which discards the saved state, first",
				"vm %s is suspended: its saved memory fixes memory, vcpus and disks, and its network comes back as it was saved, so memory, vcpu, disk size and nat cannot change", v.Name)
		}
		if running && (req.MemoryMiB != nil || req.VCPUs != nil || req.DiskSize != nil) {
			return apierr.Conflict("stop it first with `banger vm stop "+v.Name+"`", "vm %s is running: memory, vcpu and disk size can only change while it is stopped", v.Name)
		}
		mem, cpus := v.MemoryMiB, v.VCPUs
		if req.MemoryMiB != nil {
			mem = *req.MemoryMiB
		}
		if req.VCPUs != nil {
			cpus = *req.VCPUs
		}
		if err := validateMachine(mem, cpus); err != nil {
			return err
		}
		// A VMM that is not usable now cannot judge the size; the start
		// checks it again.
		if drv, err := d.host.DriverByName(ctx, v.VMM); err == nil {
			if err := validateForDriver(drv, mem, cpus); err != nil {
				return err
			}
		}
		if req.DiskSize != nil {
			if *req.DiskSize < v.DiskSize {
				return apierr.Invalid("disk size %s is smaller than the current %s: work disks only grow", humanize.Bytes(*req.DiskSize), humanize.Bytes(v.DiskSize))
			}
			if *req.DiskSize > v.DiskSize {
				if err := disk.Grow(ctx, d.vmDir(v.ID).WorkDisk(), *req.DiskSize); err != nil {
					return fmt.Errorf("grow work disk: %w", err)
				}
				v.DiskSize = *req.DiskSize
			}
		}
		v.MemoryMiB, v.VCPUs = mem, cpus
		if req.NAT != nil && *req.NAT != v.NAT {
			if running {
				var err error
				if *req.NAT {
					err = d.host.ApplyNAT(ctx, v.ID, v.IP, v.TAP)
				} else {
					err = d.host.RemoveNAT(ctx, v.ID)
				}
				if err != nil {
					return apierr.Unavailable("run `banger doctor`", "nat for vm %s: %w", v.Name, err)
				}
			}
			v.NAT = *req.NAT
		}
		return d.save(ctx, v)
	})
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT,
}

// ParseSignal accepts TERM, SIGTERM, term or a number 1-64.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal number %d is out of range 1-64", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: use a name (TERM, KILL, INT, HUP, QUIT, USR1, USR2, STOP, CONT) or a number", s)
}

func signalName(sig syscall.Signal) string {
	for n, s := range signals {
		if s == sig {
			return "SIG" + n
		}
	}
	return "signal " + strconv.Itoa(int(sig))
}
