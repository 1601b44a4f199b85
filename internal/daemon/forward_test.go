package daemon

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func listening(port int) bool {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestForwardLifecycle: a forward listens while the VM runs, stops with
// it, comes back on start and with a new daemon, and is gone (port freed)
// after --remove and after delete. Bad input records nothing.
func TestForwardLifecycle(t *testing.T) {
	host := newFakeHost()
	base := t.TempDir()
	td := newTestDaemon(t, host, base)
	ctx := context.Background()
	td.create(t, "web")
	port := freePort(t)

	taken, _ := net.Listen("tcp", "127.0.0.1:0")
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		req  api.AddForwardRequest
		want string
	}{
		{api.AddForwardRequest{Forward: api.Forward{HostPort: takenPort, GuestPort: 80}}, "pick another"},
		{api.AddForwardRequest{Forward: api.Forward{HostPort: 70000, GuestPort: 80}}, "out of range"},
		{api.AddForwardRequest{Forward: api.Forward{HostPort: port, GuestPort: 0}}, "out of range"},
		{api.AddForwardRequest{Forward: api.Forward{HostAddr: "0.0.0.0", HostPort: port, GuestPort: 80}}, "--any-address"},
		{api.AddForwardRequest{Forward: api.Forward{HostAddr: "localhost", HostPort: port, GuestPort: 80}}, "not an IPv4"},
	} {
		_, err := td.AddForward(ctx, "web", c.req)
		if err == nil || !strings.Contains(err.Error()+hintOf(err), c.want) {
			t.Errorf("AddForward(%+v) = %v, want %q", c.req, err, c.want)
		}
	}
	if fs, _ := td.ListForwards(ctx, "web"); len(fs.Forwards) != 0 {
		t.Fatalf("bad input recorded %+v", fs)
	}

	f, err := td.AddForward(ctx, "web", api.AddForwardRequest{Forward: api.Forward{HostPort: port, GuestPort: 8000}})
	if err != nil || !f.Active || f.HostAddr != "127.0.0.1" || !listening(port) {
		t.Fatalf("AddForward: %+v, %v, listening %v", f, err, listening(port))
	}
	if vm, _ := td.GetVM(ctx, "web"); len(vm.Forwards) != 1 || !vm.Forwards[0].Active || vm.Forwards[0].GuestPort != 8000 {
		t.Errorf("vm show's forwards: %+v", vm.Forwards)
	}
	if _, err := td.AddForward(ctx, "web", api.AddForwardRequest{Forward: api.Forward{HostPort: port, GuestPort: 9}}); err == nil {
		t.Errorf("a second forward on the same host port was accepted")
	}
	td.StopVM(ctx, "web", api.StopRequest{TimeoutSeconds: 1}, nil)
	if listening(port) {
		t.Errorf("forward still listens with the vm stopped")
	}
	if fs, _ := td.ListForwards(ctx, "web"); len(fs.Forwards) != 1 || fs.Forwards[0].Active {
		t.Errorf("forwards of a stopped vm: %+v", fs)
	}
	if _, err := td.StartVM(ctx, "web", nil); err != nil {
		t.Fatal(err)
	}
	if !listening(port) {
		t.Errorf("forward not back after start")
	}

	// A new daemon (after a crash or a stop) listens again.
	td.Close()
	if listening(port) {
		t.Errorf("forward outlived its daemon")
	}
	td = newTestDaemon(t, host, base)
	defer td.Close()
	if !listening(port) {
		t.Errorf("forward not re-established by a new daemon")
	}

	if _, err := td.RemoveForward(ctx, "web", "", port); err != nil || listening(port) {
		t.Errorf("remove: %v, listening %v", err, listening(port))
	}
	if _, err := td.RemoveForward(ctx, "web", "", port); err == nil {
		t.Errorf("removing a missing forward succeeded")
	}
	td.AddForward(ctx, "web", api.AddForwardRequest{Forward: api.Forward{HostPort: port, GuestPort: 8000}})
	if _, err := td.DeleteVM(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if listening(port) {
		t.Errorf("forward listens after delete")
	}
}

func hintOf(err error) string {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return " " + ae.Hint
	}
	return ""
}
