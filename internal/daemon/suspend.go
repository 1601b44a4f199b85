package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/store"
	"banger/internal/vmm"
)

// SuspendVM saves a running VM's memory and device state into its
// directory and ends its VMM. Only that VM's lock is held while its memory
// is written; other VMs carry on.
func (d *Daemon) SuspendVM(ctx context.Context, ref string, p api.Progress) (api.VM, error) {
	return d.withVM(ctx, ref, func(v *store.VM) error { return d.suspendLocked(ctx, v, p) })
}

// ResumeVM brings a suspended VM back (a stopped one is refused: resume
// promises the processes a suspend kept).
func (d *Daemon) ResumeVM(ctx context.Context, ref string, p api.Progress) (api.VM, error) {
	return d.withVM(ctx, ref, func(v *store.VM) error {
		if v.State != api.StateSuspended {
			return apierr.Conflict("`banger vm start "+v.Name+"` boots a stopped VM", "vm %s is %s, not suspended: only a suspended vm can be resumed", v.Name, v.State)
		}
		return d.startLocked(ctx, v, p, false)
	})
}

func (d *Daemon) snapshotOf(v *store.VM) vmm.Snapshot {
	dir := d.vmDir(v.ID)
	return vmm.Snapshot{Memory: dir.SnapshotMemory(), State: dir.SnapshotState()}
}

// snapshotHeadroom is kept free beyond the snapshot itself, so a suspend
// never fills the disk that holds every VM's disks.
const snapshotHeadroom = 256 << 20

func (d *Daemon) suspendLocked(ctx context.Context, v *store.VM, p api.Progress) error {
	ctx = context.WithoutCancel(ctx) // a suspend, once begun, finishes
	switch {
	case v.State == api.StateSuspended:
		return apierr.Conflict("resume it with `banger vm resume "+v.Name+"`", "vm %s is already suspended", v.Name)
	case v.State != api.StateRunning || !procOf(v).Alive():
		return apierr.Conflict("start it with `banger vm start "+v.Name+"`", "vm %s is %s: only a running vm can be suspended", v.Name, v.State)
	}
	drv, err := d.host.DriverByName(ctx, v.VMM)
	if err != nil {
		return apierr.Unavailable("run `banger doctor`", "vm %s uses %s: %w", v.Name, v.VMM, err)
	}
	snap, ok := drv.(vmm.Snapshotter)
	if !ok {
		return apierr.Unavailable("stop it instead", "vm %s: the %s driver cannot save a vm", v.Name, v.VMM)
	}
	// The snapshot holds at most the guest's memory (plus device state).
	need := uint64(v.MemoryMiB)<<20 + snapshotHeadroom
	if free, err := freeSpace(d.vmDir(v.ID).String()); err != nil {
		return fmt.Errorf("suspend vm %s: %w", v.Name, err)
	} else if free < need {
		return apierr.Conflict("free disk space, or stop it instead", "suspend vm %s: %s has %d MiB free; saving %d MiB of guest memory needs %d MiB", v.Name, d.vmDir(v.ID), free>>20, v.MemoryMiB, need>>20)
	}
	progressf(p, v.Name, "sync", "flushing the guest's filesystems")
	err = d.agentSync(ctx, v)
	if err != nil {
		return apierr.Unavailable("stop it instead, or check the agent with `banger vm health "+v.Name+"`", "suspend vm %s: flush guest filesystems: %w", v.Name, err)
	}
	d.discardSnapshot(v) // a stale one, if any, is never restored
	progressf(p, v.Name, "save", "saving %d MiB of guest memory", v.MemoryMiB)
	start := time.Now()
	if err := snap.Suspend(ctx, d.vmSpec(v), procOf(v), d.snapshotOf(v)); err != nil {
		d.discardSnapshot(v)
		return fmt.Errorf("suspend vm %s: %w", v.Name, err)
	}
	d.log.Info("vm suspended", "vm", v.Name, "ms", time.Since(start).Milliseconds())
	d.detachAll(ctx, v)
	v.State, v.LastError = api.StateSuspended, ""
	if err := d.save(ctx, v); err != nil {
		return err
	}
	d.emit(api.EventSuspended, v.Name, "")
	return nil
}

// agentSync asks the guest to flush its filesystems. An agent that does
// not answer within agentReachTimeout fails it at once; a reachable one
// gets as long as the flush takes.
func (d *Daemon) agentSync(ctx context.Context, v *store.VM) error {
	if _, err := os.Stat(d.vmDir(v.ID).VsockSocket()); err != nil {
		return fmt.Errorf("agent socket: %w", err)
	}
	c, err := d.agentFor(v)
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, agentReachTimeout)
	_, err = c.Health(hctx)
	cancel()
	if err != nil {
		return err
	}
	return c.Sync(ctx)
}

// agentReachTimeout bounds the wait for the agent before a suspend.
const agentReachTimeout = 10 * time.Second

// restoreOrBoot is the vmm step of a start: a suspended VM is restored
// from its snapshot, anything else (or a snapshot that does not restore)
// boots from its disks. The snapshot is removed once used or refused: the
// disks move on from the moment the guest runs, so restoring it again
// would roll memory back against newer disks.
func (d *Daemon) restoreOrBoot(ctx context.Context, op *vmOp, spec vmm.Spec) (vmm.Process, error) {
	v, drv := op.v, op.drv
	if v.State != api.StateSuspended {
		return drv.Start(ctx, spec)
	}
	defer d.discardSnapshot(v)
	snap, ok := drv.(vmm.Snapshotter)
	var err error
	if !ok {
		err = fmt.Errorf("the %s driver cannot restore a saved vm", drv.Name())
	} else if _, serr := os.Stat(d.snapshotOf(v).Memory); serr != nil {
		err = fmt.Errorf("snapshot: %w", serr)
	} else {
		progressf(op.p, v.Name, "restore", "restoring the saved guest")
		var proc vmm.Process
		if proc, err = snap.Restore(ctx, spec, d.snapshotOf(v)); err == nil {
			op.resumed = true
			return proc, nil
		}
	}
	msg := fmt.Sprintf("the saved state of vm %s could not be restored (%v); booting it from its disks, which hold everything the guest had written", v.Name, err)
	d.log.Warn("restore failed; cold boot", "vm", v.Name, "error", err)
	progressf(op.p, v.Name, "restore", "%s", msg)
	op.restoreErr = msg
	spec, berr := d.bootSpec(v) // a new boot, with its own log files
	if berr != nil {
		return vmm.Process{}, berr
	}
	return drv.Start(ctx, spec)
}

// discardSnapshot removes a VM's saved state.
func (d *Daemon) discardSnapshot(v *store.VM) {
	s := d.snapshotOf(v)
	for _, f := range []string{s.Memory, s.State, s.Memory + ".partial", s.State + ".partial"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("remove snapshot", "vm", v.Name, "file", f, "error", err)
		}
	}
}

// resumeCap: after a restore, the guest's clock is set from the host (it
// comes back with the time it was saved at).
type resumeCap struct{ base }

func (resumeCap) name() string { return "clock" }

func (c resumeCap) attach(ctx context.Context, op *vmOp) error {
	if !op.resumed {
		return nil
	}
	progressf(op.p, op.v.Name, "clock", "setting the guest clock")
	// The agent's connection comes back with the guest: retry briefly.
	cl, err := c.d.agentFor(op.v)
	if err != nil {
		c.d.log.Warn("set guest clock", "vm", op.v.Name, "error", err)
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		step, err := cl.SetClock(wctx, time.Now())
		if err == nil {
			c.d.log.Info("guest clock set", "vm", op.v.Name, "step", step)
			return nil
		}
		select {
		case <-wctx.Done():
			// A guest whose agent does not answer still resumed; its
			// clock is late until NTP (if any) catches up.
			c.d.log.Warn("set guest clock", "vm", op.v.Name, "error", err)
			op.clockErr = err
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeSpace is freeBytes; tests replace it.
var freeSpace = freeBytes

// freeBytes is the space available to bangerd's user on path's filesystem.
func freeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
