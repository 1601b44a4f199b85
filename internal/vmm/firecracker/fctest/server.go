// Package fctest is a fake Firecracker for contract tests of banger's
// Firecracker driver on machines without Firecracker or KVM. Server is the
// HTTP API, enforcing the pinned v1.16.1 spec (known fields only, types,
// required fields, path ids) and Firecracker's state rules (pre-boot-only
// PUTs, a single InstanceStart that needs a boot source, SendCtrlAltDel only
// while running). PUT /vsock binds a vsock muxer speaking the host side of
// Firecracker's "CONNECT <port>\n" handshake. Main runs it all as a
// stand-in `firecracker --api-sock` process.
//
// It only fakes what banger uses; other endpoints answer 400 like an
// unknown path does in Firecracker. Test code only.
package fctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Firecracker's fault messages for the state rules.
const (
	FaultAfterBoot  = "The requested operation is not supported after starting the microVM."
	FaultBeforeBoot = "The requested operation is not supported before starting the microVM."
	FaultNoKernel   = "Cannot start microvm without kernel configuration."
)

// Version is the Firecracker version the fake claims to be unless
// Config.Version (or EnvVersion for Main) says otherwise.
const Version = "1.16.1"

// PowerOffPort is a guest vsock port of the fake guest: connecting to it
// makes the guest power off the way Firecracker guests do on x86 (the
// kernel prints "reboot: Power down" and halts; Firecracker keeps
// running, its ACPI tables have no _S5).
const PowerOffPort = 7

// Config configures a Server.
type Config struct {
	ID string // instance id (firecracker --id)
	// Console receives what the guest would print on its serial console
	// and the fake's Info log lines, like Firecracker's stdout.
	Console io.Writer
	// AgentPorts are the guest vsock ports that have a listener once the
	// guest runs; connections to other ports are closed.
	AgentPorts []uint32
	// DropFields removes "Definition.field" entries from the fake's
	// tables, simulating a Firecracker that does not know the field.
	DropFields []string
	// OnCtrlAltDel is called (in a new goroutine, after the response is
	// sent) when SendCtrlAltDel is accepted; the guest would reboot and,
	// with reboot=k, Firecracker would exit.
	OnCtrlAltDel func()
	// KeepSockets leaves the vsock socket file behind on Close, as a
	// killed Firecracker does.
	KeepSockets bool
	// Version is served as vmm_version by GET /; empty means Version.
	Version string
}

// Call is one request the server answered.
type Call struct {
	Method string
	Path   string
	Body   map[string]any // nil without a body
	Status int
	Fault  string
}

// Server is the fake API. Its zero value is not usable; use NewServer.
type Server struct {
	cfg     Config
	dropped map[string]bool

	mu       sync.Mutex
	started  bool
	boot     map[string]any
	machine  map[string]any
	drives   map[string]map[string]any
	driveIDs []string
	nets     map[string]map[string]any
	vsock    *vsockMux
	calls    []Call
	// paused: PATCH /vm Paused (or a load without resume_vm) stopped the
	// vCPUs; restored: the instance came from PUT /snapshot/load.
	paused   bool
	restored bool
}

// NewServer returns a fake Firecracker API in the "Not started" state.
func NewServer(cfg Config) *Server {
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	if cfg.ID == "" {
		cfg.ID = "anonymous-instance"
	}
	if cfg.Version == "" {
		cfg.Version = Version
	}
	s := &Server{cfg: cfg, dropped: map[string]bool{}, drives: map[string]map[string]any{}, nets: map[string]map[string]any{}}
	for _, f := range cfg.DropFields {
		s.dropped[f] = true
	}
	return s
}

// Calls returns the requests answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Drive returns the body of the last accepted PUT /drives/{id}, or nil:
// contract tests check what banger asked of each drive (cache_type).
func (s *Server) Drive(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drives[id]
}

// Started reports whether InstanceStart succeeded.
func (s *Server) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Close stops the vsock muxer, if any.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vsock != nil {
		return s.vsock.close()
	}
	return nil
}

func (s *Server) state() string {
	if s.started && s.paused {
		return "Paused"
	}
	if s.started {
		return "Running"
	}
	return "Not started"
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	s.mu.Lock()
	call := Call{Method: r.Method, Path: r.URL.Path}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &call.Body)
	}
	fmt.Fprintf(s.cfg.Console, "[%s:fc_api] The API server received a %s request on %q with body %q.\n", s.cfg.ID, r.Method, r.URL.Path, string(raw))
	status, out, fault, after := s.handle(r.Method, r.URL.Path, raw)
	call.Status, call.Fault = status, fault
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if fault != "" {
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"fault_message": fault})
		w.Write(b)
		return
	}
	w.WriteHeader(status)
	if out != nil {
		b, _ := json.Marshal(out)
		w.Write(b)
	}
	if after != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go after()
	}
}

// handle returns status, body, fault message and an action to run once the
// response is out. Called with s.mu held.
func (s *Server) handle(method, path string, raw []byte) (int, any, string, func()) {
	if method == http.MethodGet {
		if len(raw) > 0 {
			return 400, nil, "GET request cannot have a body.", nil
		}
		switch path {
		case "/":
			return 200, map[string]string{"app_name": "Firecracker", "id": s.cfg.ID, "state": s.state(), "vmm_version": s.cfg.Version}, "", nil
		case "/version":
			return 200, map[string]string{"firecracker_version": s.cfg.Version}, "", nil
		}
		return 400, nil, invalidPath(method, path), nil
	}
	ep, id, ok := route(path)
	if !ok || method != ep.verb() {
		return 400, nil, invalidPath(method, path), nil
	}
	if len(raw) == 0 {
		return 400, nil, "Empty " + method + " request.", nil
	}
	if ep.idField != "" {
		if id == "" {
			return 400, nil, "The ID cannot be empty.", nil
		}
		if !validID(id) {
			return 400, nil, "API Resource IDs can only contain alphanumeric characters and underscores.", nil
		}
	}
	body, fault := decode(definitions[ep.def], s.dropped, raw)
	if fault != "" {
		return 400, nil, fault, nil
	}
	if ep.idField != "" && body[ep.idField] != id {
		return 400, nil, "The id from the path does not match the id from the body!", nil
	}
	if ep.preBoot && s.started {
		return 400, nil, FaultAfterBoot, nil
	}
	if ep.postBoot && !s.started {
		return 400, nil, FaultBeforeBoot, nil
	}
	var after func()
	switch ep.def {
	case "InstanceActionInfo":
		fault, after = s.action(body["action_type"].(string))
	case "BootSource":
		fault = s.putBootSource(body)
	case "Drive":
		fault = s.putDrive(id, body)
	case "MachineConfiguration":
		fault = s.putMachine(body)
	case "NetworkInterface":
		fault = s.putNet(id, body)
	case "Vsock":
		fault = s.putVsock(body)
	case "Logger":
		fault = s.putLogger(body)
	case "Vm":
		fault = s.patchVM(body["state"].(string))
	case "SnapshotCreateParams":
		fault = s.createSnapshot(body)
	case "SnapshotLoadParams":
		fault = s.loadSnapshot(body)
	}
	if fault != "" {
		return 400, nil, fault, nil
	}
	return 204, nil, "", after
}

func invalidPath(method, path string) string {
	return fmt.Sprintf("Invalid request method and/or path: %s %s.", method, strings.TrimPrefix(path, "/"))
}

func validID(id string) bool {
	for _, r := range id {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
