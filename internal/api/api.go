// Package api holds the wire types of bangerd's HTTP API (JSON over the
// unix socket). Types only: no logic, no imports of other banger packages.
package api

import "time"

// Version is the API path prefix.
const Version = "v1"

// NDJSON is the media type of streamed replies: a client that sends it in
// Accept gets a long operation's progress, one Event per line.
const NDJSON = "application/x-ndjson"

// VM states.
const (
	StateCreating = "creating"
	StateRunning  = "running"
	StateStopped  = "stopped"
	// StateSuspended: the guest's memory is saved in the VM's directory
	// and no VMM runs; start or resume brings every process back.
	StateSuspended = "suspended"
	StateError     = "error"
)

// VM is one VM as the API reports it.
type VM struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	State     string     `json:"state"`
	Image     string     `json:"image"`
	VCPUs     int        `json:"vcpus"`
	MemoryMiB int        `json:"memory_mib"`
	DiskSize  int64      `json:"disk_size_bytes"`
	NAT       bool       `json:"nat"`
	IP        string     `json:"ip"`
	MAC       string     `json:"mac"`
	TAP       string     `json:"tap,omitempty"`
	VMM       string     `json:"vmm"`
	Accel     string     `json:"accel,omitempty"`
	PID       int        `json:"pid,omitempty"`
	Dir       string     `json:"dir"`
	DNSName   string     `json:"dns_name"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	// Forwards are the VM\'s localhost forwards (vm forward).
	Forwards []Forward `json:"forwards,omitempty"`
}

// Image is a registered rootfs image.
type Image struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Managed    bool      `json:"managed"`
	Rootfs     string    `json:"rootfs"`
	WorkSeed   string    `json:"work_seed,omitempty"`
	Kernel     string    `json:"kernel,omitempty"`
	Initrd     string    `json:"initrd,omitempty"`
	ModulesDir string    `json:"modules_dir,omitempty"`
	Packages   string    `json:"packages,omitempty"`
	Versions   []string  `json:"versions,omitempty"` // built images: "package version" lines
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CreateVMRequest is POST /v1/vms.
type CreateVMRequest struct {
	Name      string `json:"name,omitempty"`
	Image     string `json:"image,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
	VCPUs     int    `json:"vcpus,omitempty"`
	DiskSize  int64  `json:"disk_size_bytes,omitempty"`
	NAT       bool   `json:"nat,omitempty"`
	NoWait    bool   `json:"no_wait,omitempty"`
}

// SetVMRequest is PATCH /v1/vms/{ref}. Nil fields are left unchanged.
type SetVMRequest struct {
	MemoryMiB *int   `json:"memory_mib,omitempty"`
	VCPUs     *int   `json:"vcpus,omitempty"`
	DiskSize  *int64 `json:"disk_size_bytes,omitempty"`
	NAT       *bool  `json:"nat,omitempty"`
}

// KillRequest is POST /v1/vms/{ref}/kill.
type KillRequest struct {
	Signal string `json:"signal"`
}

// StopRequest is POST /v1/vms/{ref}/stop.
type StopRequest struct {
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Event kinds. A streamed operation sends EventProgress lines and ends with
// one EventResult or EventError; GET /v1/events sends the lifecycle kinds.
const (
	EventProgress = "progress"
	EventResult   = "result"
	EventError    = "error"

	EventCreated = "created"
	EventStarted = "started"
	EventStopped = "stopped"
	EventDeleted = "deleted"
	// EventStartFailed: a start failed and was rolled back; Message is
	// the VM's LastError.
	EventStartFailed  = "start-failed"
	EventCreateFailed = "create-failed"
	EventResumed      = "resumed"
	EventSuspended    = "suspended"
	EventCloned       = "cloned"
	EventForward      = "forward"
)

// Progress receives the progress events of a long operation (create,
// start, stop, restart) as they happen. bangerd's lifecycle reports to it;
// the HTTP server adapts it to an NDJSON stream.
type Progress interface {
	Report(Event)
}

// Defaults of POST /v1/vms for fields left zero; `banger vm create --help`
// shows the same values without asking the daemon.
const (
	DefaultMemoryMiB = 1024
	DefaultVCPUs     = 2
	DefaultDiskSize  = 8 << 30
)

// Event is one NDJSON line of a streamed operation or of GET /v1/events.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // one of the Event* kinds
	VM      string    `json:"vm,omitempty"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message,omitempty"`
	Elapsed float64   `json:"elapsed_ms,omitempty"`
	Result  *VM       `json:"result,omitempty"`
	Error   *Error    `json:"error,omitempty"`
}

// Error is the body of every failed request: {"error": {...}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// ErrorBody wraps Error on the wire.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error codes.
const (
	CodeNotFound    = "not_found"
	CodeAmbiguous   = "ambiguous"
	CodeConflict    = "conflict"
	CodeInvalid     = "invalid"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)

// DaemonStatus is GET /v1/status.
type DaemonStatus struct {
	PID           int       `json:"pid"`
	Version       string    `json:"version"`
	Socket        string    `json:"socket"`
	LogPath       string    `json:"log_path"`
	DNSListen     string    `json:"dns_listen"`
	DNSError      string    `json:"dns_error,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	StateDir      string    `json:"state_dir"`
	RuntimeBundle string    `json:"runtime_bundle"`
	VMM           string    `json:"vmm"`
	Accel         string    `json:"accel"`
	VMs           int       `json:"vms"`
	Running       int       `json:"running"`
}

// VMStats is GET /v1/vms/{ref}/stats.
type VMStats struct {
	VM            string      `json:"vm"`
	State         string      `json:"state"`
	UptimeSeconds float64     `json:"uptime_seconds,omitempty"`
	VMMCPUPercent float64     `json:"vmm_cpu_percent,omitempty"`
	VMMCPUSeconds float64     `json:"vmm_cpu_seconds,omitempty"`
	VMMRSSBytes   int64       `json:"vmm_rss_bytes,omitempty"`
	Overlay       DiskUsage   `json:"overlay"`
	WorkDisk      DiskUsage   `json:"work_disk"`
	Guest         *GuestStats `json:"guest,omitempty"`
	GuestError    string      `json:"guest_error,omitempty"`
}

// DiskUsage is the apparent and allocated size of a disk file.
type DiskUsage struct {
	Path      string `json:"path"`
	SizeBytes int64  `json:"size_bytes"`
	UsedBytes int64  `json:"allocated_bytes"`
}

// GuestStats are figures reported by the guest agent.
type GuestStats struct {
	MemTotalBytes     int64     `json:"mem_total_bytes"`
	MemAvailableBytes int64     `json:"mem_available_bytes"`
	Load1             float64   `json:"load1"`
	Load5             float64   `json:"load5"`
	Load15            float64   `json:"load15"`
	UptimeSeconds     float64   `json:"uptime_seconds"`
	Disks             []FSUsage `json:"filesystems"`
}

// FSUsage is one guest filesystem.
type FSUsage struct {
	Mount      string `json:"mount"`
	TotalBytes int64  `json:"total_bytes"`
	UsedBytes  int64  `json:"used_bytes"`
}

// Port is one listener reported by GET /v1/vms/{ref}/ports.
type Port struct {
	VM       string `json:"vm"`
	Endpoint string `json:"endpoint"` // <name>.vm:<port>
	Proto    string `json:"proto"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Process  string `json:"process,omitempty"`
	PID      int    `json:"pid,omitempty"`
	Command  string `json:"command,omitempty"`
	URL      string `json:"url,omitempty"`
}

// PortsResponse is GET /v1/vms/{ref}/ports.
type PortsResponse struct {
	VM    string `json:"vm"`
	Ports []Port `json:"ports"`
}

// GuestHealth is GET /v1/vms/{ref}/health.
type GuestHealth struct {
	VM            string  `json:"vm"`
	Up            bool    `json:"up"`
	AgentVersion  string  `json:"agent_version,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// RegisterImageRequest is POST /v1/images.
type RegisterImageRequest struct {
	Name       string `json:"name"`
	Rootfs     string `json:"rootfs"`
	WorkSeed   string `json:"work_seed,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	Initrd     string `json:"initrd,omitempty"`
	ModulesDir string `json:"modules_dir,omitempty"`
	Packages   string `json:"packages,omitempty"`
	// Managed registers a version directory made by `banger image build`.
	Managed bool `json:"managed,omitempty"`
}

// CloneVMRequest is the body of POST /v1/vms/{ref}/clone: a new VM from a
// stopped one's disks, with its own identity.
type CloneVMRequest struct {
	Name string `json:"name"`
}

// VMExport is the answer of POST /v1/vms/{ref}/export: copies of a stopped
// VM's disks, made while the daemon held the VM's lock and with their
// journals replayed, for `banger image save`. The caller owns Dir and
// removes it when done.
type VMExport struct {
	Dir      string `json:"dir"`
	Rootfs   string `json:"rootfs"` // the VM's lower layer (a hard link where possible)
	Overlay  string `json:"overlay"`
	WorkDisk string `json:"work_disk"`
	Image    string `json:"image"` // the image the VM was created from
}
