package vmm

import "context"

// Snapshot names the files of one saved VM: the guest's memory and the
// VMM's device state. A VMM that writes both into one stream (qemu's
// migration format) uses Memory only.
type Snapshot struct {
	Memory string
	State  string
}

// Snapshotter is implemented by drivers that can save a running guest to
// files and bring it back with every process where it was.
type Snapshotter interface {
	// Suspend pauses the guest, writes its memory and device state to
	// snap, and ends the VMM process. On error the guest is resumed when
	// the VMM still runs, and a partly written snapshot is removed.
	Suspend(ctx context.Context, spec Spec, p Process, snap Snapshot) error
	// Restore launches the VMM for spec from snap and returns once the
	// guest runs again. spec must describe the same machine (memory,
	// vCPUs, disks, devices) as the one suspended; its TAP and log files
	// may differ. On error nothing is left running.
	Restore(ctx context.Context, spec Spec, snap Snapshot) (Process, error)
}
