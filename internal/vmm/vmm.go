// Package vmm defines the driver interface between banger's VM lifecycle and
// a virtual machine monitor (Firecracker or qemu). Drivers live in the
// firecracker/ and qemu/ subpackages. A driver launches the VMM process as
// the current user, detached in its own session so that it outlives bangerd,
// and knows how to ask the guest to shut down. Everything above a driver
// (daemon, CLI) is VMM-agnostic.
package vmm

import (
	"context"
	"errors"
)

// Disk is one block device, attached in Spec.Disks order. The guest finds
// disks by their ext4 label, so order is informative only.
type Disk struct {
	ID       string // short identifier: "rootfs", "overlay", "work"
	Path     string
	ReadOnly bool
}

// Spec is everything a driver needs to boot one VM.
type Spec struct {
	ID        string // VM id (hex), used for names of VMM-side objects
	Name      string
	Dir       string // per-VM directory (paths.VMDir) for sockets and logs
	Kernel    string // kernel path; Firecracker needs an uncompressed ELF vmlinux
	Initrd    string
	BootArgs  string // full kernel command line
	VCPUs     int
	MemoryMiB int
	Disks     []Disk
	TAP       string // host TAP device name; empty for no network
	MAC       string // guest MAC, "02:xx:..."
	// AgentSocket is the host unix socket that speaks Firecracker's vsock
	// handshake ("CONNECT <port>\n" → "OK <n>\n") to the guest agent.
	AgentSocket string
	// LogPath receives the VMM's raw output for this boot
	// (firecracker.N.log / qemu.N.log), written through the capped log
	// pump of internal/vmm/bootlog.
	LogPath string
	// ConsolePath receives the guest serial console (console.N.log), when
	// the VMM separates it.
	ConsolePath string
	// PIDFile is written with the VMM's pid once it runs.
	PIDFile string
}

// Process identifies a running VMM process across bangerd restarts: a pid
// alone may be reused, so the kernel's start time of the process is kept too.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // field 22 of /proc/<pid>/stat
}

// Driver boots and controls VMs with one VMM.
type Driver interface {
	// Name is "firecracker" or "qemu".
	Name() string
	// Accel describes the acceleration in use: "kvm" or "tcg".
	Accel() string
	// Start launches the VMM, configures and boots the guest, and returns
	// once the VMM reports the guest running. On error nothing is left
	// running and the VMM's log is named in the error.
	Start(ctx context.Context, spec Spec) (Process, error)
	// Attach reconnects host-side helpers (for example the agent socket
	// multiplexer of the qemu serial transport) to a VMM that is already
	// running, after Start or after a bangerd restart. The returned closer
	// releases them; it does not stop the VM.
	Attach(ctx context.Context, spec Spec, p Process) (Attachment, error)
	// RequestShutdown asks the guest to shut down cleanly (Ctrl-Alt-Del or
	// ACPI power button). It returns once the request is delivered.
	RequestShutdown(ctx context.Context, spec Spec, p Process) error
}

// MachineValidator is implemented by a driver whose VMM restricts a VM's
// size beyond the host's limits (Firecracker's vCPU count). The daemon asks
// it before create and before a resize, so the rule lives in the driver
// alone.
type MachineValidator interface {
	ValidateMachine(vcpus, memMiB int) error
}

// Attachment is the host-side state a driver keeps for a running VM.
type Attachment interface {
	Close() error
}

// ErrNotRunning is returned when an operation needs a running VMM.
var ErrNotRunning = errors.New("vmm process is not running")
