// Package agentproto holds the wire types shared by banger-vsock-agent (in
// the guest) and bangerd (on the host). Types only; no logic.
//
// The agent speaks HTTP/1.1 with JSON bodies over one stream per request
// (vsock port Port, or the serial mux on SerialPortName). Errors are
// {"error":{"code","message"}} with an honest HTTP status. Every request
// carries the VM's token (see TokenPath); without it the answer is 401.
package agentproto

// Port is the vsock port the guest agent listens on.
const Port = 10700

// TokenPath is where the guest-config builder writes the VM's agent token
// (root:root, 0600) and where the agent reads it when it starts. Every
// request must carry it as "Authorization: Bearer <token>"; the host keeps
// its copy in the VM's directory, readable only by the bangerd user.
const TokenPath = "/etc/banger/agent-token"

// BinaryPath is where banger-vsock-agent lives in a guest: the image build
// installs it there, and the service definitions (systemd unit, runit
// service) run it from there.
const BinaryPath = "/usr/local/bin/banger-vsock-agent"

// SerialPortName is the virtio-serial port name used when the VM has no
// vsock device (see internal/vsock for the multiplexed stream).
const SerialPortName = "banger.agent"

// Paths of the versioned API.
const (
	PathHealth   = "/v1/health"   // GET → Health
	PathPorts    = "/v1/ports"    // GET → PortsResponse
	PathStats    = "/v1/stats"    // GET → Stats
	PathShutdown = "/v1/shutdown" // POST ShutdownRequest → 202 ShutdownResponse
	PathSync     = "/v1/sync"     // POST → 200 SyncResponse
	PathClock    = "/v1/clock"    // POST ClockRequest → 200 ClockResponse
)

// SyncResponse is the answer to POST /v1/sync, sent once the guest's
// filesystems have written everything to their disks (sync(2)).
type SyncResponse struct {
	Milliseconds int64 `json:"milliseconds"`
}

// ClockRequest sets the guest's wall clock (CLOCK_REALTIME), after a
// resume from a snapshot left it where it was when the VM was saved.
type ClockRequest struct {
	UnixNano int64 `json:"unix_nano"`
}

// ClockResponse tells how far the guest clock moved.
type ClockResponse struct {
	// StepNanos is the new time minus the guest's time before the set.
	StepNanos int64 `json:"step_nanos"`
}

// Health is the answer to GET /v1/health.
type Health struct {
	Version string `json:"version"`
	// UptimeSeconds is the guest system's uptime (/proc/uptime), not the
	// agent process's.
	UptimeSeconds float64 `json:"uptime_seconds"`
	Hostname      string  `json:"hostname"`
	// BootID changes on every guest boot (/proc/sys/kernel/random/boot_id).
	BootID string `json:"boot_id"`
}

// PortsResponse is the answer to GET /v1/ports.
type PortsResponse struct {
	Ports []ListeningPort `json:"ports"`
}

// ListeningPort is one listening socket in the guest. (The name Port is
// taken by the agent's vsock port constant.)
type ListeningPort struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	// Address is the bound address without brackets: "0.0.0.0", "::",
	// "127.0.0.1", "::1", or "*" for a dual-stack wildcard socket.
	Address string `json:"address"`
	// Interface is set when the socket is bound to a device
	// (SO_BINDTODEVICE, shown by ss as "addr%dev").
	Interface string `json:"interface,omitempty"`
	Port      int    `json:"port"`
	Process   string `json:"process,omitempty"` // short name (comm) as ss shows it
	PID       int    `json:"pid,omitempty"`
	// Command is /proc/<pid>/cmdline with arguments joined by spaces.
	Command string `json:"command,omitempty"`
}

// Stats is the answer to GET /v1/stats.
type Stats struct {
	UptimeSeconds float64 `json:"uptime_seconds"`
	Load          Load    `json:"load"`
	Memory        Memory  `json:"memory"`
	Disks         []Disk  `json:"disks"`
	CPUs          int     `json:"cpus"`
}

// Load is the guest load average.
type Load struct {
	One     float64 `json:"one"`
	Five    float64 `json:"five"`
	Fifteen float64 `json:"fifteen"`
}

// Memory is from /proc/meminfo, in bytes.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
}

// Disk is statfs of one mount point, in bytes. Error is set (and the sizes
// are zero) when the path could not be examined.
type Disk struct {
	Path           string `json:"path"`
	TotalBytes     uint64 `json:"total_bytes"`
	FreeBytes      uint64 `json:"free_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	Error          string `json:"error,omitempty"`
}

// Shutdown actions. The VM boots with reboot=k, so a guest reboot makes the
// VMM exit: to stop a VM cleanly the host asks for ActionReboot.
// ActionPoweroff powers the guest off; under Firecracker that may leave the
// VMM process running around a halted guest, so the host should not rely on
// it to end the VMM.
const (
	ActionReboot   = "reboot"
	ActionPoweroff = "poweroff"
)

// ShutdownRequest is the body of POST /v1/shutdown.
type ShutdownRequest struct {
	Action string `json:"action"`
}

// ShutdownResponse is the 202 answer to POST /v1/shutdown; the action
// starts right after the response is sent.
type ShutdownResponse struct {
	Action string `json:"action"`
}

// Error codes.
const (
	CodeSSMissing  = "ss_missing"         // 501: the image has no ss; rebuild it
	CodeBadRequest = "bad_request"        // 400
	CodeNotFound   = "not_found"          // 404
	CodeMethod     = "method_not_allowed" // 405
	CodeInternal   = "internal"           // 500
	// CodeUnauthorized: the request lacked the VM's agent token or carried
	// another one.
	CodeUnauthorized = "unauthorized" // 401
)

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error says what went wrong, with a stable code for programs.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
