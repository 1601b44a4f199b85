package fctest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSnapshotOrder: the spec's order is pause, then create; load only into
// a fresh process; a snapshot of a running, unpaused guest is refused.
func TestSnapshotOrder(t *testing.T) {
	f := newFixture(t, Config{})
	mem, state := filepath.Join(f.dir, "snap.mem"), filepath.Join(f.dir, "snap.state")
	create := `{"mem_file_path":"` + mem + `","snapshot_path":"` + state + `","snapshot_type":"Full"}`
	if code, fault := f.do("PUT", "/snapshot/create", create); code != 400 || fault != FaultBeforeBoot {
		t.Fatalf("create before boot: %d %q", code, fault)
	}
	if code, fault := f.do("PATCH", "/vm", `{"state":"Paused"}`); code != 400 || fault != FaultBeforeBoot {
		t.Fatalf("pause before boot: %d %q", code, fault)
	}
	f.mustPut("/machine-config", `{"vcpu_count":2,"mem_size_mib":256}`)
	f.mustPut("/boot-source", f.bootSource())
	f.mustPut("/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"tap0"}`)
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)

	if code, fault := f.do("PUT", "/snapshot/create", create); code != 400 || fault != FaultNotPaused {
		t.Fatalf("create while running: %d %q", code, fault)
	}
	if _, err := os.Stat(mem); !os.IsNotExist(err) {
		t.Fatal("a refused snapshot wrote a memory file")
	}
	if code, fault := f.do("PUT", "/vm", `{"state":"Paused"}`); code != 400 || fault == "" {
		t.Errorf("PUT /vm (the spec has PATCH): %d %q", code, fault)
	}
	if code, fault := f.do("PATCH", "/vm", `{"state":"Stopped"}`); code != 400 || fault == "" {
		t.Errorf("PATCH /vm with an unknown state: %d %q", code, fault)
	}
	if code, fault := f.do("PATCH", "/vm", `{"state":"Paused"}`); code != 204 || f.state() != "Paused" {
		t.Fatalf("pause: %d %q, state %q", code, fault, f.state())
	}
	f.mustPut("/snapshot/create", create)
	if st, err := os.Stat(mem); err != nil || st.Size() != 256<<20 {
		t.Fatalf("memory file: %v", err)
	}
	load := `{"snapshot_path":"` + state + `","mem_backend":{"backend_type":"File","backend_path":"` + mem + `"},"resume_vm":true,"network_overrides":[{"iface_id":"eth0","host_dev_name":"tap7"}]}`
	if code, fault := f.do("PUT", "/snapshot/load", load); code != 400 || fault != FaultAfterBoot {
		t.Fatalf("load into a running process: %d %q", code, fault)
	}

	// A fresh process: configured first, it refuses the load.
	g := newFixture(t, Config{})
	g.mustPut("/machine-config", `{"vcpu_count":2,"mem_size_mib":256}`)
	if code, fault := g.do("PUT", "/snapshot/load", load); code != 400 || fault != FaultLoadAfterConfig {
		t.Fatalf("load after configuring: %d %q", code, fault)
	}

	h := newFixture(t, Config{})
	both := `{"snapshot_path":"` + state + `","mem_file_path":"` + mem + `","mem_backend":{"backend_type":"File","backend_path":"` + mem + `"}}`
	if code, fault := h.do("PUT", "/snapshot/load", both); code != 400 || fault == "" {
		t.Errorf("load with both memory fields: %d %q", code, fault)
	}
	damaged := filepath.Join(f.dir, "damaged.state")
	os.WriteFile(damaged, []byte("not a state"), 0o600)
	bad := `{"snapshot_path":"` + damaged + `","mem_backend":{"backend_type":"File","backend_path":"` + mem + `"},"resume_vm":true}`
	if code, fault := h.do("PUT", "/snapshot/load", bad); code != 400 || fault == "" || h.state() != "Not started" {
		t.Errorf("load of a damaged state: %d %q, state %q", code, fault, h.state())
	}
	h.mustPut("/snapshot/load", load)
	if h.state() != "Running" || !h.srv.Restored() || h.srv.Net("eth0")["host_dev_name"] != "tap7" {
		t.Fatalf("after load: state %q restored %v net %v", h.state(), h.srv.Restored(), h.srv.Net("eth0"))
	}
	if code, fault := h.do("PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128}`); code != 400 || fault != FaultAfterBoot {
		t.Errorf("configure after a load: %d %q", code, fault)
	}
}
