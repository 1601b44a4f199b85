package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/vmm"
)

// fakeQMP is a QMP server on a unix socket that follows qemu's rules: a
// greeting, commands refused until qmp_capabilities, replies carrying the
// request id, and events interleaved with replies.
type fakeQMP struct {
	t    *testing.T
	path string
	ln   net.Listener

	mu       sync.Mutex
	status   string
	commands []string
	// silent makes the server accept and never greet, like a socket whose
	// single client slot is taken.
	silent bool
}

func newFakeQMP(t *testing.T) *fakeQMP {
	t.Helper()
	// Where the driver looks for QMP: the VM directory's API socket.
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeQMP{t: t, path: path, ln: ln, status: "running"}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeQMP) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.session(c)
	}
}

func (f *fakeQMP) session(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	silent := f.silent
	f.mu.Unlock()
	if silent {
		time.Sleep(5 * time.Second)
		return
	}
	enc := json.NewEncoder(c)
	enc.Encode(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"major": 7, "minor": 2, "micro": 22}, "package": "fake"},
		"capabilities": []string{"oob"},
	}})
	sc := bufio.NewScanner(c)
	negotiated := false
	for sc.Scan() {
		var req struct {
			Execute string          `json:"execute"`
			ID      json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			enc.Encode(map[string]any{"error": map[string]string{"class": "GenericError", "desc": "JSON parse error"}})
			continue
		}
		f.mu.Lock()
		f.commands = append(f.commands, req.Execute)
		status := f.status
		f.mu.Unlock()
		reply := func(m map[string]any) {
			if req.ID != nil {
				m["id"] = req.ID
			}
			enc.Encode(m)
		}
		// An unrelated event and a reply to someone else's id come first.
		enc.Encode(map[string]any{"event": "RTC_CHANGE", "data": map[string]int{"offset": 1}})
		enc.Encode(map[string]any{"return": map[string]any{}, "id": "not-yours"})
		switch {
		case req.Execute == "qmp_capabilities":
			negotiated = true
			reply(map[string]any{"return": map[string]any{}})
		case !negotiated:
			reply(map[string]any{"error": map[string]string{"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})
		case req.Execute == "query-status":
			reply(map[string]any{"return": map[string]any{"status": status, "singlestep": false, "running": status == "running"}})
		case req.Execute == "system_powerdown":
			enc.Encode(map[string]any{"event": "POWERDOWN"})
			reply(map[string]any{"return": map[string]any{}})
		case req.Execute == "quit":
			// qemu may exit before its reply is written.
			return
		default:
			reply(map[string]any{"error": map[string]string{"class": "CommandNotFound", "desc": "The command " + req.Execute + " has not been found"}})
		}
	}
}

func (f *fakeQMP) set(status string, silent bool) {
	f.mu.Lock()
	f.status, f.silent = status, silent
	f.mu.Unlock()
}

func (f *fakeQMP) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

func TestQMPSession(t *testing.T) {
	f := newFakeQMP(t)
	ctx := context.Background()
	c, err := dialQMP(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Version != "7.2.22" {
		t.Errorf("version = %q", c.Version)
	}
	st, err := c.queryStatus(ctx)
	if err != nil || st.Status != "running" || !st.Running {
		t.Fatalf("query-status = %+v, %v", st, err)
	}
	if err := c.systemPowerdown(ctx); err != nil {
		t.Fatal(err)
	}
	err = c.execute(ctx, "no-such-command", nil, nil)
	var qe *qmpError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" || !strings.Contains(err.Error(), "qmp no-such-command") {
		t.Fatalf("unknown command error = %v", err)
	}
	if err := c.quit(ctx); err != nil {
		t.Fatalf("quit: %v", err)
	}
	want := []string{"qmp_capabilities", "query-status", "system_powerdown", "no-such-command", "quit"}
	if got := f.seen(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("commands = %v, want %v", got, want)
	}
}

func TestQMPStatusNotRunning(t *testing.T) {
	f := newFakeQMP(t)
	f.set("paused", false)
	st, err := queryStatusOnce(context.Background(), f.path)
	if err != nil || st.Running || st.Status != "paused" {
		t.Fatalf("query-status = %+v, %v", st, err)
	}
}

func TestQMPTimesOutOnSilentServer(t *testing.T) {
	f := newFakeQMP(t)
	f.set("running", true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := dialQMP(ctx, f.path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestQMPCancelWithoutDeadline(t *testing.T) {
	f := newFakeQMP(t)
	f.set("running", true)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := dialQMP(ctx, f.path)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestQMPRejectsNonQMPServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte(`{"hello":"world"}` + "\n"))
			c.Close()
		}
	}()
	if _, err := dialQMP(context.Background(), path); err == nil || !strings.Contains(err.Error(), "not a qmp server") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestShutdownOverQMP(t *testing.T) {
	f := newFakeQMP(t)
	spec := vmm.Spec{Name: "calm-otter", Dir: filepath.Dir(f.path)}
	// Any live process stands in for qemu; the driver talks to its socket.
	self, err := vmm.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{})
	if err := d.RequestShutdown(context.Background(), spec, self); err != nil {
		t.Fatal(err)
	}
	if got := f.seen(); strings.Join(got, " ") != "qmp_capabilities system_powerdown" {
		t.Fatalf("commands = %v", got)
	}
	gone := vmm.Process{PID: self.PID, StartTime: self.StartTime + 1}
	if err := d.RequestShutdown(context.Background(), spec, gone); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("RequestShutdown of a dead process = %v, want ErrNotRunning", err)
	}
}
