package daemon

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/store"
)

// guestPorts stands in for the guest agent's listener list.
type guestPorts struct {
	mu    sync.Mutex
	ports []int
}

func (g *guestPorts) set(p ...int) { g.mu.Lock(); g.ports = p; g.mu.Unlock() }
func (g *guestPorts) list(context.Context, *store.VM) ([]int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.ports...), nil
}

func eventuallyT(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAutoForward: --auto picks up a listener that appears after it was
// turned on, leaves out 22 and ports below 1024, reports a host port that
// is taken without failing, drops a listener that goes away, and stops
// with the VM and when turned off.
func TestAutoForward(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	g := &guestPorts{}
	td.fwd.listPorts = g.list
	ctx := context.Background()
	td.create(t, "web")

	taken, _ := net.Listen("tcp", "127.0.0.1:0")
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	p1, p2 := freePort(t), freePort(t)

	list, err := td.SetAutoForward(ctx, "web", true)
	if err != nil || !list.Auto {
		t.Fatalf("auto on: %+v, %v", list, err)
	}
	g.set(22, 80, p1, takenPort) // started after --auto
	eventuallyT(t, "the new listener is forwarded", func() bool { return listening(p1) })
	list, _ = td.ListForwards(ctx, "web")
	var sawTaken bool
	for _, f := range list.Forwards {
		if f.HostPort == 22 || f.HostPort == 80 {
			t.Errorf("auto forwarded port %d", f.HostPort)
		}
		if f.HostPort == takenPort && f.Error != "" && !f.Active {
			sawTaken = true
		}
	}
	if !sawTaken {
		t.Errorf("a taken host port is not reported: %+v", list.Forwards)
	}

	g.set(p2)
	eventuallyT(t, "the gone listener is dropped and the new one forwarded", func() bool { return !listening(p1) && listening(p2) })

	td.StopVM(ctx, "web", api.StopRequest{TimeoutSeconds: 1}, nil)
	if listening(p2) {
		t.Errorf("auto forward outlived the vm's stop")
	}
	if _, err := td.StartVM(ctx, "web", nil); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "auto resumes after start", func() bool { return listening(p2) })

	if _, err := td.SetAutoForward(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	if listening(p2) {
		t.Errorf("auto forward still listens after --auto --remove")
	}
	if l, _ := td.ListForwards(ctx, "web"); l.Auto || len(l.Forwards) != 0 {
		t.Errorf("after auto off: %+v", l)
	}
	td.DeleteVM(ctx, "web", true)
}
