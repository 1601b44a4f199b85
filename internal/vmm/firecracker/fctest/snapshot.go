package fctest

import (
	"encoding/json"
	"fmt"
	"os"
)

// Snapshot semantics of Firecracker v1.16.1 as banger relies on them:
// PATCH /vm only on a started instance; PUT /snapshot/create only while
// paused ("The microVM should be in the `Paused` state"); PUT
// /snapshot/load only on a fresh process, before any resource other than
// the logger is configured. All are called with s.mu held.

// FaultNotPaused is the fake's refusal of a snapshot of a running guest.
const FaultNotPaused = "Create snapshot error: the microVM is not paused; pause it with PATCH /vm first."

// FaultLoadAfterConfig is Firecracker's refusal of a load into a process
// already configured for a boot.
const FaultLoadAfterConfig = "Loading a microVM snapshot not allowed after configuring boot-specific resources."

// fakeState is what the fake writes as the microVM state file: the
// configuration a load brings back.
type fakeState struct {
	Magic    string                    `json:"magic"`
	Machine  map[string]any            `json:"machine"`
	Drives   map[string]map[string]any `json:"drives"`
	DriveIDs []string                  `json:"drive_ids"`
	Nets     map[string]map[string]any `json:"nets"`
	VsockUDS string                    `json:"vsock_uds,omitempty"`
}

const stateMagic = "fctest-microvm-state-v1"

func (s *Server) patchVM(state string) string {
	if !s.started {
		return FaultBeforeBoot
	}
	s.paused = state == "Paused"
	return ""
}

func (s *Server) createSnapshot(b map[string]any) string {
	if !s.paused {
		return FaultNotPaused
	}
	st := fakeState{Magic: stateMagic, Machine: s.machine, Drives: s.drives, DriveIDs: s.driveIDs, Nets: s.nets}
	if s.vsock != nil {
		st.VsockUDS = s.vsock.path
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return "Create snapshot error: " + err.Error()
	}
	if err := os.WriteFile(b["snapshot_path"].(string), raw, 0o600); err != nil {
		return "Create snapshot error: Cannot save the microVM state: " + err.Error()
	}
	// Guest memory: sparse, the configured size.
	var mem int64 = 128
	if m, ok := s.machine["mem_size_mib"].(json.Number); ok {
		mem, _ = m.Int64()
	}
	f, err := os.OpenFile(b["mem_file_path"].(string), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "Create snapshot error: Cannot write memory file: " + err.Error()
	}
	defer f.Close()
	if err := f.Truncate(mem << 20); err != nil {
		return "Create snapshot error: Cannot write memory file: " + err.Error()
	}
	return ""
}

func (s *Server) loadSnapshot(b map[string]any) string {
	if s.boot != nil || s.machine != nil || len(s.drives) > 0 || len(s.nets) > 0 || s.vsock != nil {
		return FaultLoadAfterConfig
	}
	_, hasPath := b["mem_file_path"]
	backend, hasBackend := b["mem_backend"].(map[string]any)
	if hasPath == hasBackend {
		return "Load snapshot error: exactly one of mem_file_path and mem_backend is required."
	}
	mem, _ := b["mem_file_path"].(string)
	if hasBackend {
		if backend["backend_type"] != "File" && backend["backend_type"] != "Uffd" {
			return deserializeFault(fmt.Sprintf("unknown variant `%v`, expected `File` or `Uffd`", backend["backend_type"]))
		}
		mem, _ = backend["backend_path"].(string)
	}
	if err := openable(mem); err != nil {
		return "Load snapshot error: Cannot open the memory file: " + err.Error()
	}
	raw, err := os.ReadFile(b["snapshot_path"].(string))
	if err != nil {
		return "Load snapshot error: Cannot open the microVM state file: " + err.Error()
	}
	var st fakeState
	if json.Unmarshal(raw, &st) != nil || st.Magic != stateMagic {
		return "Load snapshot error: Cannot deserialize the microVM state."
	}
	overrides, _ := b["network_overrides"].([]any)
	for _, o := range overrides {
		m, _ := o.(map[string]any)
		id, _ := m["iface_id"].(string)
		dev, _ := m["host_dev_name"].(string)
		n, ok := st.Nets[id]
		if !ok || dev == "" {
			return fmt.Sprintf("Load snapshot error: invalid network override %v: no interface %q in the snapshot", o, id)
		}
		n["host_dev_name"] = dev
	}
	s.machine, s.drives, s.driveIDs, s.nets = st.Machine, st.Drives, st.DriveIDs, st.Nets
	if s.drives == nil {
		s.drives = map[string]map[string]any{}
	}
	if s.nets == nil {
		s.nets = map[string]map[string]any{}
	}
	uds := st.VsockUDS
	if vo, ok := b["vsock_override"].(map[string]any); ok {
		uds, _ = vo["uds_path"].(string)
	}
	if uds != "" {
		m, err := listenVsock(uds, s.cfg.AgentPorts, s.cfg.KeepSockets)
		if err != nil {
			return "Load snapshot error: Cannot bind the vsock socket: " + err.Error()
		}
		m.powerOff = s.guestPowerOff
		s.vsock = m
		m.activate()
	}
	s.started, s.restored = true, true
	resume, _ := b["resume_vm"].(bool)
	s.paused = !resume
	fmt.Fprintf(s.cfg.Console, "fake guest: restored from snapshot\n")
	return ""
}

// Paused reports whether the guest's vCPUs are paused.
func (s *Server) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// Restored reports whether the instance came from a snapshot load.
func (s *Server) Restored() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restored
}

// Net returns the body of network interface id as configured or restored.
func (s *Server) Net(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nets[id]
}
