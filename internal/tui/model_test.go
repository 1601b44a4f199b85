package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/client"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testVMs() []api.VM {
	started := testNow.Add(-(3*time.Minute + 12*time.Second))
	return []api.VM{
		{ID: "1a2b3c4d5e6f", Name: "calm-otter", State: api.StateRunning, Image: "default", VCPUs: 2, MemoryMiB: 1024,
			DiskSize: 8 << 30, NAT: true, IP: "172.30.0.2", MAC: "02:00:1a:2b:3c:4d", VMM: "qemu", Accel: "tcg", PID: 4242,
			DNSName: "calm-otter.vm", CreatedAt: testNow.Add(-time.Hour), StartedAt: &started},
		{ID: "9f8e7d6c5b4a", Name: "buildbox", State: api.StateStopped, Image: "default", VCPUs: 4, MemoryMiB: 2048,
			DiskSize: 16 << 30, IP: "172.30.0.3", MAC: "02:00:9f:8e:7d:6c", VMM: "qemu", DNSName: "buildbox.vm",
			CreatedAt: testNow.Add(-48 * time.Hour)},
	}
}

// newTest is a model on a fake backend, sized 80x24, with a fixed clock
// and a refresh tick too slow to fire during a test.
func newTest(t *testing.T) (Model, *fakeBackend) {
	t.Helper()
	f := newFake(t)
	m := New(context.Background(), Options{Backend: f, RefreshEvery: time.Hour})
	m.now = func() time.Time { return testNow }
	m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return m, f
}

func send(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	m2, _ := sendCmd(t, m, msg)
	return m2
}

func sendCmd(t *testing.T, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	nm, ok := next.(Model)
	if !ok {
		t.Fatalf("Update returned %T, want Model", next)
	}
	return nm, cmd
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// ready is a model that has received the test VMs.
func ready(t *testing.T) (Model, *fakeBackend) {
	t.Helper()
	m, f := newTest(t)
	f.replies["GET /v1/vms"] = testVMs()
	m = send(t, m, vmsMsg{vms: testVMs()})
	if m.state != stateReady {
		t.Fatalf("state = %v after a list, want ready", m.state)
	}
	return m, f
}

func isQuit(t *testing.T, cmd tea.Cmd) bool {
	t.Helper()
	_, ok := find[tea.QuitMsg](run(t, cmd))
	return ok
}

func TestInitFetchesListAndFollowsEvents(t *testing.T) {
	m, f := newTest(t)
	f.replies["GET /v1/vms"] = testVMs()
	msgs := run(t, m.Init())
	list, ok := find[vmsMsg](msgs)
	if !ok || len(list.vms) != 2 || list.err != nil {
		t.Fatalf("Init did not fetch the list: %#v", msgs)
	}
	if f.count(http.MethodGet, "/v1/events") != 1 {
		t.Errorf("Init did not subscribe to /v1/events")
	}
	if m.state != stateLoading || !strings.Contains(plain(m.View()), "connecting to bangerd") {
		t.Errorf("before the first list the model must show loading, got state %v:\n%s", m.state, plain(m.View()))
	}
}

func TestListErrorAndRecovery(t *testing.T) {
	m, f := newTest(t)
	unreachable := fmt.Errorf("%w at /run/banger/bangerd.sock: dial unix: connect: connection refused", client.ErrUnreachable)
	m = send(t, m, vmsMsg{err: unreachable})
	m = send(t, m, inboxMsg{msg: eventsEndedMsg{err: unreachable}})
	if m.state != stateError || m.live {
		t.Fatalf("state %v live %v, want error and not live", m.state, m.live)
	}
	// Keys that act on VMs do nothing without a list.
	if m2, cmd := sendCmd(t, m, keyMsg("s")); cmd != nil && len(m2.ops) != 0 {
		t.Errorf("start ran in the error state")
	}
	// The tick retries; a list that comes back makes it ready and
	// subscribes to events again.
	m, cmd := sendCmd(t, m, tickMsg(testNow))
	f.replies["GET /v1/vms"] = testVMs()
	list, ok := find[vmsMsg](run(t, cmd))
	if !ok {
		t.Fatal("tick did not refetch the list")
	}
	m, cmd = sendCmd(t, m, list)
	if m.state != stateReady || !m.live {
		t.Fatalf("state %v live %v after a good list, want ready and live", m.state, m.live)
	}
	run(t, cmd)
	if n := f.count(http.MethodGet, "/v1/events"); n != 1 {
		t.Errorf("events subscriptions after recovery = %d, want 1", n)
	}
}

func TestEventsRefetchCoalesced(t *testing.T) {
	m, f := ready(t)
	ev := eventMsg{ev: api.Event{Type: "stopped", VM: "calm-otter"}}
	m, cmd1 := sendCmd(t, m, inboxMsg{msg: ev})
	m, cmd2 := sendCmd(t, m, inboxMsg{msg: ev})
	if !m.fetching || !m.refetch {
		t.Fatalf("fetching %v refetch %v after two events, want both", m.fetching, m.refetch)
	}
	msgs := append(run(t, cmd1), run(t, cmd2)...)
	if n := f.count(http.MethodGet, "/v1/vms"); n != 1 {
		t.Fatalf("two events in a row sent %d list requests, want 1 (the second waits)", n)
	}
	list, _ := find[vmsMsg](msgs)
	m, cmd := sendCmd(t, m, list)
	if m.refetch || !m.fetching {
		t.Fatalf("the waiting refetch did not start")
	}
	run(t, cmd)
	if n := f.count(http.MethodGet, "/v1/vms"); n != 2 {
		t.Errorf("list requests = %d, want 2", n)
	}
}

func TestNavigationAndDetails(t *testing.T) {
	m, f := ready(t)
	if vm, _ := m.selected(); vm.Name != "calm-otter" {
		t.Fatalf("first selection = %q", vm.Name)
	}
	running := testVMs()[0]
	f.replies["GET /v1/vms/1a2b3c4d5e6f"] = running
	f.replies["GET /v1/vms/1a2b3c4d5e6f/stats"] = api.VMStats{VM: "calm-otter", State: api.StateRunning, UptimeSeconds: 192,
		VMMCPUPercent: 3.5, VMMCPUSeconds: 12.25, VMMRSSBytes: 300 << 20,
		Overlay:  api.DiskUsage{SizeBytes: 8 << 30, UsedBytes: 120 << 20},
		WorkDisk: api.DiskUsage{SizeBytes: 8 << 30, UsedBytes: 64 << 20},
		Guest: &api.GuestStats{MemTotalBytes: 1 << 30, MemAvailableBytes: 612 << 20, Load1: 0.12, Load5: 0.05, UptimeSeconds: 190,
			Disks: []api.FSUsage{{Mount: "/root", TotalBytes: 8 << 30, UsedBytes: 1 << 30}}}}

	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 40})
	m, cmd := sendCmd(t, m, keyMsg("enter"))
	if m.pane != paneDetails || !m.details.loading {
		t.Fatalf("enter: pane %v loading %v", m.pane, m.details.loading)
	}
	if !strings.Contains(plain(m.View()), "loading") {
		t.Errorf("details pane does not say it is loading")
	}
	det, ok := find[detailsMsg](run(t, cmd))
	if !ok || det.err != nil || det.stats == nil {
		t.Fatalf("details command: %#v", det)
	}
	m = send(t, m, det)
	view := plain(m.View())
	for _, want := range []string{"details of calm-otter", "running, up 3m12s", "3.5% (12.2s), rss 300 MiB", "allocated     overlay 120 MiB of 8 GiB, work disk 64 MiB of 8 GiB", "612 MiB available of 1 GiB", "guest /root", "1 GiB used of 8 GiB"} {
		if !strings.Contains(view, want) {
			t.Errorf("details view lacks %q:\n%s", want, view)
		}
	}

	// Moving the cursor moves the pane to the next VM; a late reply for
	// the old one is dropped.
	m, cmd = sendCmd(t, m, keyMsg("j"))
	if vm, _ := m.selected(); vm.Name != "buildbox" || m.details.id != "9f8e7d6c5b4a" || !m.details.loading {
		t.Fatalf("after j: selected %q, details %q loading %v", vm.Name, m.details.id, m.details.loading)
	}
	m = send(t, m, det)
	if m.details.vm != nil {
		t.Errorf("a reply for calm-otter filled the pane of buildbox")
	}
	stopped, ok := find[detailsMsg](run(t, cmd))
	if !ok {
		t.Fatal("no details fetch for buildbox")
	}
	if !strings.Contains(stopped.err.Error(), "no such endpoint") {
		t.Fatalf("fake should not have answered buildbox: %v", stopped.err)
	}
	m = send(t, m, stopped)
	if !strings.Contains(plain(m.View()), "no such endpoint: GET /v1/vms/9f8e7d6c5b4a") {
		t.Errorf("details error not shown:\n%s", plain(m.View()))
	}
	if f.count(http.MethodGet, "/v1/vms/9f8e7d6c5b4a/stats") != 0 {
		t.Errorf("stats fetched for a VM that failed to load")
	}

	m = send(t, m, keyMsg("up"))
	m = send(t, m, keyMsg("esc"))
	if m.pane != paneNone {
		t.Errorf("esc did not close the pane")
	}
}

func TestDetailsSkipStatsForStoppedVM(t *testing.T) {
	m, f := ready(t)
	f.replies["GET /v1/vms/9f8e7d6c5b4a"] = testVMs()[1]
	m = send(t, m, keyMsg("down"))
	_, cmd := sendCmd(t, m, keyMsg("enter"))
	det, _ := find[detailsMsg](run(t, cmd))
	if det.err != nil || det.stats != nil || det.statsErr != nil {
		t.Fatalf("details of a stopped VM: %#v", det)
	}
	if f.count(http.MethodGet, "/v1/vms/9f8e7d6c5b4a/stats") != 0 {
		t.Errorf("stats requested for a stopped VM")
	}
}

func TestLifecycleProgressAndResult(t *testing.T) {
	m, f := ready(t)
	m = send(t, m, keyMsg("down")) // buildbox, stopped
	f.progress = []api.Event{{Type: "progress", VM: "buildbox", Step: "boot", Message: "booting the VMM"}}
	f.result = &api.VM{Name: "buildbox", State: api.StateRunning}

	m, cmd := sendCmd(t, m, keyMsg("s"))
	if len(m.ops) != 1 || m.ops[0].verb != "start" {
		t.Fatalf("ops after s: %#v", m.ops)
	}
	// The same VM cannot get a second operation meanwhile.
	m2, again := sendCmd(t, m, keyMsg("r"))
	if again != nil && len(m2.ops) != 1 || !m2.status.err {
		t.Errorf("a second operation on a busy VM was not refused: %#v", m2.status)
	}

	msgs := run(t, cmd)
	if f.count(http.MethodPost, "/v1/vms/9f8e7d6c5b4a/start") != 1 {
		t.Fatalf("start request not sent: %#v", f.calls)
	}
	done, ok := find[opDoneMsg](msgs)
	if !ok {
		t.Fatal("the operation did not finish")
	}
	// Progress was posted to the inbox; Update gets it wrapped.
	select {
	case posted := <-m.inbox:
		m = send(t, m, inboxMsg{msg: posted})
	default:
		t.Fatal("no progress posted to the inbox")
	}
	if view := plain(m.View()); !strings.Contains(view, "buildbox: starting · booting the VMM") {
		t.Errorf("status line lacks the progress:\n%s", view)
	}
	m = send(t, m, done)
	if len(m.ops) != 0 || m.status.err || m.status.text != "buildbox: started (running)" {
		t.Errorf("after the result: ops %d status %#v", len(m.ops), m.status)
	}
}

func TestLifecycleErrorShowsMessageAndHint(t *testing.T) {
	m, f := ready(t)
	f.errs["POST /v1/vms/1a2b3c4d5e6f/stop"] = &client.APIError{Status: http.StatusConflict,
		Body: api.Error{Code: api.CodeConflict, Message: "vm calm-otter is still being created", Hint: "wait for the create to finish"}}
	m, cmd := sendCmd(t, m, keyMsg("x"))
	done, _ := find[opDoneMsg](run(t, cmd))
	m = send(t, m, done)
	view := plain(m.View())
	for _, want := range []string{"✗ calm-otter: stop failed: vm calm-otter is still being created", "hint: wait for the create to finish"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	if got := string(f.lastBody(http.MethodPost, "/v1/vms/1a2b3c4d5e6f/stop")); got != "{}" {
		t.Errorf("stop body = %s, want {} (the daemon's default timeout)", got)
	}
}

func TestDeleteAsksAndForcesRunningVM(t *testing.T) {
	m, f := ready(t) // calm-otter, running, is selected
	f.replies["DELETE /v1/vms/1a2b3c4d5e6f?force=true"] = testVMs()[0]
	f.replies["DELETE /v1/vms/9f8e7d6c5b4a"] = testVMs()[1]

	m = send(t, m, keyMsg("d"))
	if m.confirm == nil || !m.confirm.force || !strings.Contains(plain(m.View()), "calm-otter is running: stop it and delete it with its disks (force)?") {
		t.Fatalf("deleting a running VM must ask about force:\n%s", plain(m.View()))
	}
	// While asking, other keys do nothing ("s" must not start anything).
	m, cmd := sendCmd(t, m, keyMsg("s"))
	if m.confirm == nil || len(m.ops) != 0 || cmd != nil {
		t.Fatalf("a key other than y/n acted during the question")
	}
	m, cmd = sendCmd(t, m, keyMsg("n"))
	if m.confirm != nil || cmd != nil || m.status.text != "calm-otter: not deleted" {
		t.Fatalf("n did not cancel: %#v", m.status)
	}

	m = send(t, m, keyMsg("d"))
	m, cmd = sendCmd(t, m, keyMsg("y"))
	done, _ := find[actionDoneMsg](run(t, cmd))
	if done.err != nil || f.count(http.MethodDelete, "/v1/vms/1a2b3c4d5e6f?force=true") != 1 {
		t.Fatalf("forced delete not sent: %v %#v", done.err, f.calls)
	}
	m = send(t, m, done)
	if m.status.text != "calm-otter: deleted" {
		t.Errorf("status = %q", m.status.text)
	}

	// A stopped VM is deleted without force.
	m = send(t, m, keyMsg("down"))
	m = send(t, m, keyMsg("d"))
	if m.confirm.force || !strings.Contains(m.confirm.prompt, "delete buildbox and its disks?") {
		t.Fatalf("prompt for a stopped VM: %#v", m.confirm)
	}
	_, cmd = sendCmd(t, m, keyMsg("y"))
	run(t, cmd)
	if f.count(http.MethodDelete, "/v1/vms/9f8e7d6c5b4a") != 1 {
		t.Errorf("delete without force not sent: %#v", f.calls)
	}
}

func TestToggleNAT(t *testing.T) {
	m, f := ready(t)
	f.replies["PATCH /v1/vms/9f8e7d6c5b4a"] = testVMs()[1]
	m = send(t, m, keyMsg("down")) // buildbox has NAT off
	m, cmd := sendCmd(t, m, keyMsg("n"))
	done, _ := find[actionDoneMsg](run(t, cmd))
	var req api.SetVMRequest
	if err := json.Unmarshal(f.lastBody(http.MethodPatch, "/v1/vms/9f8e7d6c5b4a"), &req); err != nil || req.NAT == nil || !*req.NAT || req.MemoryMiB != nil {
		t.Fatalf("PATCH body = %s, want only nat=true", f.lastBody(http.MethodPatch, "/v1/vms/9f8e7d6c5b4a"))
	}
	m = send(t, m, done)
	if m.status.text != "buildbox: NAT on" {
		t.Errorf("status = %q", m.status.text)
	}
}

func TestPortsPane(t *testing.T) {
	m, f := ready(t)
	f.replies["GET /v1/vms/1a2b3c4d5e6f/ports"] = api.PortsResponse{VM: "calm-otter", Ports: []api.Port{
		{Endpoint: "calm-otter.vm:22", Proto: "tcp", Port: 22, Process: "sshd", PID: 301},
		{Endpoint: "calm-otter.vm:8000", Proto: "tcp", Port: 8000, Command: "python3 -m http.server 8000", PID: 845, URL: "http://calm-otter.vm:8000/"},
	}}
	m = send(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	m, cmd := sendCmd(t, m, keyMsg("p"))
	if m.pane != panePorts || !m.ports.loading {
		t.Fatalf("p did not open a loading ports pane")
	}
	pm, _ := find[portsMsg](run(t, cmd))
	m = send(t, m, pm)
	view := plain(m.View())
	for _, want := range []string{"ports of calm-otter", "calm-otter.vm:22", "sshd (pid 301)", "python3 -m http.server 8000 (pid 845)", "http://calm-otter.vm:8000/"} {
		if !strings.Contains(view, want) {
			t.Errorf("ports view lacks %q:\n%s", want, view)
		}
	}
	m = send(t, m, keyMsg("p"))
	if m.pane != paneNone {
		t.Errorf("p again did not close the pane")
	}
}

func TestSSH(t *testing.T) {
	m, _ := ready(t)
	var got api.VM
	m.sshArgv = func(vm api.VM) []string { got = vm; return []string{"true"} }

	m, cmd := sendCmd(t, m, keyMsg("c"))
	if cmd == nil || got.ID != "1a2b3c4d5e6f" {
		t.Fatalf("ssh to a running VM: cmd %v, argv built for %q", cmd != nil, got.Name)
	}
	// Real exit statuses, from real processes.
	m = send(t, m, sshDoneMsg{name: "calm-otter", err: exec.Command("sh", "-c", "exit 255").Run()})
	if !m.status.err || !strings.Contains(m.status.text, "could not connect") || !strings.Contains(m.status.hint, "banger vm ssh calm-otter") {
		t.Errorf("status after ssh exit 255 = %#v", m.status)
	}
	m = send(t, m, sshDoneMsg{name: "calm-otter", err: exec.Command("sh", "-c", "exit 3").Run()})
	if m.status.err || m.status.text != "ssh session to calm-otter ended (exit status 3)" {
		t.Errorf("the remote shell's exit status is not a failure: %#v", m.status)
	}

	got = api.VM{}
	m = send(t, m, keyMsg("down"))
	m, cmd = sendCmd(t, m, keyMsg("c"))
	if cmd != nil || got.ID != "" || !strings.Contains(m.status.text, "buildbox is stopped: start it with s first") {
		t.Errorf("ssh to a stopped VM: cmd %v, status %#v", cmd != nil, m.status)
	}

	// After a failed start the status leads with the recorded cause.
	failed := testVMs()
	failed[1].LastError = "start failed: wait for ssh: timed out\nconsole: panic"
	m = send(t, m, vmsMsg{vms: failed})
	m, cmd = sendCmd(t, m, keyMsg("c"))
	if cmd != nil || m.status.text != "buildbox is stopped: start failed: wait for ssh: timed out" || !strings.Contains(m.status.hint, "fix the cause") {
		t.Errorf("ssh to a VM whose start failed: cmd %v, status %#v", cmd != nil, m.status)
	}
}

func TestQuit(t *testing.T) {
	m, _ := ready(t)
	if _, cmd := sendCmd(t, m, keyMsg("q")); !isQuit(t, cmd) {
		t.Fatal("q did not quit")
	}
	// With an operation running, q asks first; ctrl+c never does.
	m.ops = []operation{{id: 1, verb: "restart", name: "calm-otter", started: testNow}}
	m, cmd := sendCmd(t, m, keyMsg("q"))
	if cmd != nil || m.confirm == nil || !m.confirm.quit {
		t.Fatalf("q with a running operation did not ask")
	}
	if _, cmd := sendCmd(t, m, keyMsg("y")); !isQuit(t, cmd) {
		t.Fatal("y did not quit")
	}
	if _, cmd := sendCmd(t, m, keyMsg("ctrl+c")); !isQuit(t, cmd) {
		t.Fatal("ctrl+c did not quit")
	}
}

func TestHelpToggles(t *testing.T) {
	m, _ := ready(t)
	m = send(t, m, keyMsg("?"))
	if !m.showHelp || !strings.Contains(plain(m.View()), "toggle NAT") {
		t.Fatalf("? did not show help:\n%s", plain(m.View()))
	}
	// Action keys are inert on the help screen.
	m, cmd := sendCmd(t, m, keyMsg("s"))
	if cmd != nil || len(m.ops) != 0 {
		t.Fatal("s acted on the help screen")
	}
	m = send(t, m, keyMsg("?"))
	if m.showHelp {
		t.Fatal("? did not close help")
	}
}

func TestPaneClosesWhenVMGoes(t *testing.T) {
	m, _ := ready(t)
	m = send(t, m, keyMsg("enter"))
	m = send(t, m, vmsMsg{vms: testVMs()[1:]})
	if m.pane != paneNone {
		t.Errorf("details of a deleted VM still open")
	}
	if vm, _ := m.selected(); vm.Name != "buildbox" {
		t.Errorf("selection = %q, want the remaining VM", vm.Name)
	}
}

func TestSelectionFollowsVMAcrossReorder(t *testing.T) {
	m, _ := ready(t)
	m = send(t, m, keyMsg("down"))
	vms := testVMs()
	m = send(t, m, vmsMsg{vms: []api.VM{vms[1], vms[0]}})
	if vm, _ := m.selected(); vm.Name != "buildbox" {
		t.Errorf("after reorder selection = %q, want buildbox", vm.Name)
	}
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// plain is a view without colour codes, whatever terminal runs the tests.
func plain(s string) string { return ansiRE.ReplaceAllString(s, "") }

func TestWatchEventsPostsEachEvent(t *testing.T) {
	m, f := newTest(t)
	f.events = []api.Event{{Type: "started", VM: "calm-otter"}, {Type: "stopped", VM: "buildbox", Message: "vmm exited"}}
	f.eventsErr = fmt.Errorf("read bangerd events: %w", context.Canceled)
	ended, ok := find[eventsEndedMsg](run(t, watchEvents(m.ctx, f, m.inbox)))
	if !ok || ended.err == nil {
		t.Fatalf("the stream's end was not reported: %#v", ended)
	}
	for _, want := range f.events {
		select {
		case got := <-m.inbox:
			if ev, ok := got.(eventMsg); !ok || ev.ev.Type != want.Type || ev.ev.VM != want.VM {
				t.Errorf("posted %#v, want the %s event of %s", got, want.Type, want.VM)
			}
		default:
			t.Fatalf("event %s of %s was not posted", want.Type, want.VM)
		}
	}
	m = send(t, m, inboxMsg{msg: ended})
	if m.live || !strings.Contains(plain(m.headerView()), "polling every") {
		t.Errorf("header does not say the list is polled: %q", plain(m.headerView()))
	}
}
