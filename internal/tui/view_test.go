package tui

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/client"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current views")

// golden compares a view (colours stripped, trailing spaces trimmed) with
// testdata/name.golden.
func golden(t *testing.T, name string, m Model) {
	t.Helper()
	lines := strings.Split(plain(m.View()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	got := strings.Join(lines, "\n") + "\n"
	if n := len(lines); n != 24 {
		t.Errorf("%s: view is %d lines, want the terminal's 24", name, n)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s view differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

func TestViewEmpty(t *testing.T) {
	m, _ := newTest(t)
	m = send(t, m, vmsMsg{vms: []api.VM{}})
	if !strings.Contains(m.View(), emptyText) {
		t.Errorf("empty list does not say how to create a VM")
	}
	golden(t, "empty", m)
}

func TestViewError(t *testing.T) {
	m, _ := newTest(t)
	m.startErr = errors.New("cannot find the bangerd binary beside banger or on PATH: run `make install` or set BANGER_DAEMON_BIN")
	m = send(t, m, vmsMsg{err: fmt.Errorf("%w at /run/user/0/banger/bangerd.sock: dial unix /run/user/0/banger/bangerd.sock: connect: no such file or directory", client.ErrUnreachable)})
	m = send(t, m, eventsEndedMsg{})
	golden(t, "error", m)
}

func TestViewHelp(t *testing.T) {
	m, _ := ready(t)
	m = send(t, m, keyMsg("?"))
	golden(t, "help", m)
}

func TestViewDetailsAndOperation(t *testing.T) {
	m, f := ready(t)
	vm := testVMs()[0]
	f.replies["GET /v1/vms/1a2b3c4d5e6f"] = vm
	m = send(t, m, keyMsg("j"))
	m = send(t, m, keyMsg("k"))
	m = send(t, m, keyMsg("enter"))
	m = send(t, m, detailsMsg{id: vm.ID, vm: vm, stats: &api.VMStats{VM: vm.Name, State: api.StateRunning,
		VMMCPUPercent: 3.5, VMMCPUSeconds: 12.25, VMMRSSBytes: 300 << 20,
		Overlay:  api.DiskUsage{SizeBytes: 8 << 30, UsedBytes: 120 << 20},
		WorkDisk: api.DiskUsage{SizeBytes: 8 << 30, UsedBytes: 64 << 20},
		Guest: &api.GuestStats{MemTotalBytes: 1 << 30, MemAvailableBytes: 612 << 20, Load1: 0.12, Load5: 0.05, UptimeSeconds: 190,
			Disks: []api.FSUsage{{Mount: "/", TotalBytes: 4 << 30, UsedBytes: 2 << 30}, {Mount: "/root", TotalBytes: 8 << 30, UsedBytes: 1 << 30}}}}})
	m.ops = []operation{{id: 1, verb: "restart", vmID: "9f8e7d6c5b4a", name: "buildbox", started: testNow.Add(-4e9), step: "waiting for SSH"}}
	m.status = statusLine{text: "calm-otter: NAT on"}
	golden(t, "details", m)
}

func TestViewConfirmDelete(t *testing.T) {
	m, _ := ready(t)
	m = send(t, m, keyMsg("d"))
	golden(t, "confirm", m)
}
