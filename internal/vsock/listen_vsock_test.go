package vsock

import (
	"banger/internal/testenv"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Accepting a real connection needs a peer on another CID (a VM or the
// vsock_loopback transport); this test covers what a lone kernel allows:
// bind, address, and Close unblocking Accept.
func TestListenVsockCloseUnblocksAccept(t *testing.T) {
	checkLeaks(t)
	ln, err := ListenVsock(10799)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		testenv.RequireOrSkip(t, fmt.Sprintf("AF_VSOCK support in this kernel (%v)", err), false)
	}
	if err != nil {
		t.Fatalf("ListenVsock: %v", err)
	}
	if got := ln.Addr().String(); got != "vsock:any:10799" {
		t.Errorf("Addr() = %q", got)
	}
	// The port is taken while the listener lives.
	if _, err := ListenVsock(10799); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("second listener on the same port: got %v, want EADDRINUSE", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ln.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: got %v, want net.ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not unblock Accept")
	}
	// The port is free again.
	ln2, err := ListenVsock(10799)
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	ln2.Close()
}
