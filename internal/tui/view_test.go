package tui

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

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
	// The CLI's Describe adds this hint; the view shows whatever it gives.
	m.describe = func(err error) (string, string) {
		msg, hint := client.ErrorParts(err)
		if errors.Is(err, client.ErrUnreachable) {
			hint = "is bangerd running? `banger daemon status` starts it; its log is ~/.local/state/banger/bangerd.log"
		}
		return msg, hint
	}
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

// hostileArgv is what a guest process can set its command line to: an
// OSC 0 that retitles the terminal and an OSC 52 that writes the clipboard.
const hostileArgv = "node \x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07 app.js"

// checkOnlyStyling fails when the raw view holds a control character other
// than a newline or the start of the view's own styling (CSI "ESC [").
func checkOnlyStyling(t *testing.T, view string) {
	t.Helper()
	for i := 0; i < len(view); i++ {
		c := view[i]
		switch {
		case c == '\n':
		case c == 0x1b && i+1 < len(view) && view[i+1] == '[':
		case c < 0x20 || c == 0x7f:
			t.Errorf("view holds raw control byte %#x at %d: %q", c, i, view[max(0, i-20):min(len(view), i+20)])
			return
		}
	}
}

func TestViewPortsEscapesGuestText(t *testing.T) {
	m, f := ready(t)
	f.replies["GET /v1/vms/1a2b3c4d5e6f/ports"] = api.PortsResponse{VM: "calm-otter", Ports: []api.Port{
		{Endpoint: "calm-otter.vm:22", Proto: "tcp", Port: 22, Process: "sshd", PID: 301},
		{Endpoint: "calm-otter.vm:3000", Proto: "tcp", Port: 3000, Process: "node", Command: hostileArgv, PID: 845, URL: "http://calm-otter.vm:3000/"},
		{Endpoint: "calm-otter.vm:53", Proto: "udp\x1b[2J", Port: 53, Process: "evil\u009b31m", PID: 9},
	}}
	m = send(t, m, tea.WindowSizeMsg{Width: 140, Height: 24})
	m, cmd := sendCmd(t, m, keyMsg("p"))
	pm, _ := find[portsMsg](run(t, cmd))
	m = send(t, m, pm)
	view := m.View()
	checkOnlyStyling(t, view)
	if !strings.Contains(plain(view), `node \x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07 app.js (pid 845)`) {
		t.Errorf("the escaped command line is not shown:\n%s", plain(view))
	}
	golden(t, "ports-hostile", m)
}

func TestViewDetailsEscapesGuestText(t *testing.T) {
	m, f := ready(t)
	vm := testVMs()[0]
	vm.LastError = "ssh timeout: console says \x1b]0;pwned\x07"
	f.replies["GET /v1/vms/1a2b3c4d5e6f"] = vm
	m = send(t, m, keyMsg("enter"))
	m = send(t, m, detailsMsg{id: vm.ID, vm: vm, stats: &api.VMStats{VM: vm.Name, State: api.StateRunning,
		GuestError: "agent stats: \x1b]52;c;eA==\x07"}})
	m.ops = []operation{{id: 1, verb: "restart", vmID: "9f8e7d6c5b4a", name: "buildbox", started: testNow}}
	m = send(t, m, opProgressMsg{id: 1, ev: api.Event{Message: "step \x1b]0;x\x07"}})
	view := m.View()
	checkOnlyStyling(t, view)
	for _, want := range []string{`console says \x1b]0;pwned\x07`, `agent stats: \x1b]52;c;eA==\x07`, `step \x1b]0;x\x07`} {
		if !strings.Contains(plain(view), want) {
			t.Errorf("view lacks %q:\n%s", want, plain(view))
		}
	}
}
