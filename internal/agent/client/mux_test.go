package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent/agentproto"
	"banger/internal/vsock"
)

// openPTY returns a raw-mode pseudo-terminal: the slave path stands in for
// the guest's /dev/virtio-ports/banger.agent (a character device carrying
// a byte stream), the master for qemu's chardev socket on the host.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
			return
		}
		if n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN); ioErr != nil {
			return
		}
		// Raw mode, so frames pass untouched and nothing is echoed back.
		var tio *unix.Termios
		if tio, ioErr = unix.IoctlGetTermios(int(fd), unix.TCGETS); ioErr != nil {
			return
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if ioErr != nil {
		m.Close()
		t.Fatalf("set up pty: %v", ioErr)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// fileConn adapts the pty master to net.Conn for ServeMux's dialer.
type fileConn struct{ *os.File }

func (fileConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (fileConn) RemoteAddr() net.Addr { return pipeAddr{} }

// The whole host→guest path: Client → vsock.Dial → ServeMux (hybrid vsock
// socket) → serial mux over a character device → vsock.ListenSerial → the
// real agent server.
func TestClientOverSerialMux(t *testing.T) {
	master, slave := openPTY(t)
	ln, err := vsock.ListenSerial(slave, agentproto.Port)
	if err != nil {
		master.Close()
		t.Fatalf("ListenSerial: %v", err)
	}
	r := newScriptedRunner()
	startAgent(t, ln, r.run)

	dir, err := os.MkdirTemp("", "bcl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	uds := dir + "/vsock.sock"
	var once sync.Once
	m, err := vsock.ServeMux(uds, func(ctx context.Context) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = fileConn{master} })
		if c == nil {
			return nil, fmt.Errorf("the pty master was already used")
		}
		return c, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	c := New(VsockDialer(uds), testToken)
	exerciseAll(t, c, r)

	// Concurrent calls share the one serial link.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Stats(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Nothing listens on another port: the mux refuses, Dial reports it.
	other := New(func(ctx context.Context) (net.Conn, error) { return vsock.Dial(ctx, uds, 9) }, testToken)
	other.Timeout = 300 * time.Millisecond
	if _, err := other.Health(context.Background()); !errors.Is(err, ErrUnreachable) || !errors.Is(err, vsock.ErrNoListener) {
		t.Fatalf("health on a port nobody listens on: got %v, want ErrUnreachable and vsock.ErrNoListener", err)
	}
}
