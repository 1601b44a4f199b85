package firecracker

import (
	"context"
	"fmt"
	"os"
	"time"

	"banger/internal/paths"
	"banger/internal/vmm"
)

var _ vmm.Snapshotter = (*Driver)(nil)

// Suspend pauses the guest (PATCH /vm Paused, which the spec requires
// before a snapshot), writes a full snapshot (PUT /snapshot/create) and
// ends the process. A failure after the pause resumes the guest.
func (d *Driver) Suspend(ctx context.Context, spec vmm.Spec, p vmm.Process, snap vmm.Snapshot) (err error) {
	if !p.Alive() {
		return vmm.ErrNotRunning
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("suspend firecracker vm %s: %s: %w", spec.Name, step, err)
	}
	c := NewClient(paths.VMDir(spec.Dir).APISocket())
	if err := c.PatchVM(ctx, VMStatePaused); err != nil {
		return fail("pause guest", err)
	}
	defer func() {
		if err != nil {
			os.Remove(snap.Memory)
			os.Remove(snap.State)
			if rerr := c.PatchVM(context.WithoutCancel(ctx), VMStateResumed); rerr != nil {
				d.log.Warn("resume guest after a failed suspend", "vm", spec.Name, "error", rerr)
			}
		}
	}()
	start := time.Now()
	if err := c.CreateSnapshot(ctx, SnapshotCreateParams{MemFilePath: snap.Memory, SnapshotPath: snap.State, SnapshotType: SnapshotTypeFull}); err != nil {
		return fail("create snapshot", err)
	}
	for _, f := range []string{snap.Memory, snap.State} {
		if err := syncFile(f); err != nil {
			return fail("sync snapshot", err)
		}
	}
	d.log.Info("firecracker guest saved", "vm", spec.Name, "ms", time.Since(start).Milliseconds())
	// The snapshot is whole: the process has nothing left to do.
	if err := p.Terminate(context.WithoutCancel(ctx), 3*time.Second); err != nil {
		return fmt.Errorf("suspend firecracker vm %s: end process: %w", spec.Name, err)
	}
	return nil
}

// Restore launches a fresh Firecracker and loads snap into it (PUT
// /snapshot/load, the only configuration call the spec allows on a
// process that restores), resuming the guest, with its network interface
// on this start's TAP.
func (d *Driver) Restore(ctx context.Context, spec vmm.Spec, snap vmm.Snapshot) (vmm.Process, error) {
	bin, err := d.resolveBinary()
	if err != nil {
		return vmm.Process{}, fmt.Errorf("restore firecracker vm %s: %w", spec.Name, err)
	}
	for _, f := range []string{snap.Memory, snap.State} {
		if _, err := os.Stat(f); err != nil {
			return vmm.Process{}, fmt.Errorf("restore firecracker vm %s: %w", spec.Name, err)
		}
	}
	return d.launch(ctx, bin, spec, restoreSteps(spec, snap))
}

func restoreSteps(spec vmm.Spec, snap vmm.Snapshot) []step {
	params := SnapshotLoadParams{
		SnapshotPath:  snap.State,
		MemBackend:    &MemoryBackend{BackendType: MemoryBackendFile, BackendPath: snap.Memory},
		ResumeVM:      true,
		ClockRealtime: true,
	}
	if spec.TAP != "" {
		params.NetworkOverrides = []NetworkOverride{{IfaceID: "eth0", HostDevName: spec.TAP}}
	}
	return []step{{"load snapshot", func(ctx context.Context, c *Client) error {
		return c.LoadSnapshot(ctx, params)
	}}}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
