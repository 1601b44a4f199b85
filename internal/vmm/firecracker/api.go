package firecracker

// Wire types of the Firecracker API, pinned to v1.16.1 (see DESIGN.md "VMM
// drivers"). Firecracker deserializes every body with deny_unknown_fields, so
// each type carries exactly the spec fields banger sends, named as in the
// spec's definitions. Optional fields we never set are left out rather than
// sent as zero values.

// BootSource is the spec's BootSource (PUT /boot-source).
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	// BootArgs is always sent: Firecracker's default command line disables
	// the serial console.
	BootArgs string `json:"boot_args"`
}

// Drive is the spec's Drive for a virtio-block device (PUT /drives/{id}).
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
	// CacheType is "Writeback" for writable drives: Firecracker's default
	// "Unsafe" drops the guest's flush requests, so a host crash could
	// lose or corrupt data the guest believed was on disk
	// (docs/api_requests/block-caching.md). Writeback passes each flush
	// to the host file with fsync, as qemu's cache=writeback does.
	CacheType string `json:"cache_type,omitempty"`
}

// Drive cache types.
const CacheWriteback = "Writeback"

// NetworkInterface is the spec's NetworkInterface (PUT
// /network-interfaces/{id}).
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMAC    string `json:"guest_mac,omitempty"`
}

// MachineConfiguration is the spec's MachineConfiguration (PUT
// /machine-config). SMT is sent explicitly (always false for banger).
type MachineConfiguration struct {
	VCPUCount  int  `json:"vcpu_count"`
	MemSizeMiB int  `json:"mem_size_mib"`
	SMT        bool `json:"smt"`
}

// Vsock is the spec's Vsock (PUT /vsock). Firecracker binds UDSPath itself
// and speaks the "CONNECT <port>\n" handshake on it.
type Vsock struct {
	GuestCID int    `json:"guest_cid"`
	UDSPath  string `json:"uds_path"`
}

// Logger is the spec's Logger (PUT /logger). Level is one of Error,
// Warning, Info, Debug, Trace, Off.
type Logger struct {
	LogPath string `json:"log_path,omitempty"`
	Level   string `json:"level,omitempty"`
}

// Action types of the spec's InstanceActionInfo.
const (
	ActionInstanceStart  = "InstanceStart"
	ActionSendCtrlAltDel = "SendCtrlAltDel"
)

// InstanceActionInfo is the body of PUT /actions.
type InstanceActionInfo struct {
	ActionType string `json:"action_type"`
}

// Instance states reported by GET /.
const (
	StateNotStarted = "Not started"
	StateRunning    = "Running"
	StatePaused     = "Paused"
)

// InstanceInfo is the spec's InstanceInfo (GET /).
type InstanceInfo struct {
	AppName    string `json:"app_name"`
	ID         string `json:"id"`
	State      string `json:"state"`
	VMMVersion string `json:"vmm_version"`
}

// apiError is the spec's Error body.
type apiError struct {
	FaultMessage string `json:"fault_message"`
}

// guestCID is the guest's vsock context id; 3 is the lowest the spec
// allows, and each VM has its own vsock device, so all VMs can share it.
const guestCID = 3

// VM is the body of PATCH /vm.
type VM struct {
	State string `json:"state"` // VMStatePaused or VMStateResumed
}

// States of the spec's Vm.
const (
	VMStatePaused  = "Paused"
	VMStateResumed = "Resumed"
)

// SnapshotCreateParams is the body of PUT /snapshot/create.
type SnapshotCreateParams struct {
	MemFilePath  string `json:"mem_file_path"`
	SnapshotPath string `json:"snapshot_path"`
	SnapshotType string `json:"snapshot_type,omitempty"`
}

// SnapshotTypeFull is a snapshot of all guest memory.
const SnapshotTypeFull = "Full"

// SnapshotLoadParams is the body of PUT /snapshot/load.
type SnapshotLoadParams struct {
	SnapshotPath     string            `json:"snapshot_path"`
	MemBackend       *MemoryBackend    `json:"mem_backend,omitempty"`
	ResumeVM         bool              `json:"resume_vm,omitempty"`
	NetworkOverrides []NetworkOverride `json:"network_overrides,omitempty"`
	// ClockRealtime advances kvmclock by the wall-clock time since the
	// snapshot (x86_64).
	ClockRealtime bool `json:"clock_realtime,omitempty"`
}

// MemoryBackend is the spec's MemoryBackend.
type MemoryBackend struct {
	BackendType string `json:"backend_type"` // MemoryBackendFile
	BackendPath string `json:"backend_path"`
}

// MemoryBackendFile loads guest memory from a file.
const MemoryBackendFile = "File"

// NetworkOverride points a restored interface at another TAP.
type NetworkOverride struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
}
