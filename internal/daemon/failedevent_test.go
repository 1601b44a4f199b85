package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"banger/internal/api"
)

// TestFailedCreateAndStartAreEvents: subscribers (banger events, the TUI)
// hear about a create or start that failed, not only about successes.
func TestFailedCreateAndStartAreEvents(t *testing.T) {
	t.Setenv("BANGER_SSH_TIMEOUT", "600ms")
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := td.Subscribe(ctx)
	next := func() api.Event {
		t.Helper()
		select {
		case ev := <-evs:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
		return api.Event{}
	}

	host.drv.mu.Lock()
	host.drv.failStart = errors.New("vmm exploded")
	host.drv.mu.Unlock()
	td.CreateVM(ctx, api.CreateVMRequest{Name: "doomed", DiskSize: 64 << 20}, nil)
	if ev := next(); ev.Type != api.EventCreateFailed || ev.VM != "doomed" {
		t.Fatalf("after a failed create: %+v", ev)
	}
	host.drv.mu.Lock()
	host.drv.failStart = nil
	host.drv.mu.Unlock()

	td.create(t, "web")
	if ev := next(); ev.Type != "created" || ev.VM != "web" {
		t.Fatalf("after create: %+v", ev)
	}
	td.StopVM(ctx, "web", api.StopRequest{TimeoutSeconds: 1}, nil)
	if ev := next(); ev.Type != "stopped" {
		t.Fatalf("after stop: %+v", ev)
	}
	td.opts.SSHReady = func(context.Context, string) bool { return false }
	td.StartVM(ctx, "web", nil)
	if ev := next(); ev.Type != api.EventStartFailed || ev.VM != "web" {
		t.Fatalf("after a failed start: %+v", ev)
	}
	td.DeleteVM(context.Background(), "web", true)
}
