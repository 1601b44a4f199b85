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
