package vsock

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ListenVsock listens on an AF_VSOCK stream socket on port for any CID (the
// guest side of a vsock device). The sockets are non-blocking and run on the
// Go runtime poller, so Close unblocks Accept and deadlines work; no cgo.
func ListenVsock(port uint32) (net.Listener, error) {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create vsock socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind vsock port %d: %w", port, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on vsock port %d: %w", port, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d", port))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vsock port %d: %w", port, err)
	}
	return &vsockListener{f: f, rc: rc, addr: VsockAddr{CID: unix.VMADDR_CID_ANY, Port: port}}, nil
}

type vsockListener struct {
	f      *os.File
	rc     syscall.RawConn
	addr   VsockAddr
	closed atomic.Bool
}

func (l *vsockListener) Accept() (net.Conn, error) {
	var (
		nfd  int
		sa   unix.Sockaddr
		aerr error
	)
	err := l.rc.Read(func(fd uintptr) bool {
		nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if err != nil {
		if l.closed.Load() {
			// The poller reports an internal "use of closed file" error.
			return nil, net.ErrClosed
		}
		return nil, fmt.Errorf("accept on %s: %w", l.addr, err)
	}
	if aerr != nil {
		return nil, fmt.Errorf("accept on %s: %w", l.addr, aerr)
	}
	remote := VsockAddr{}
	if vm, ok := sa.(*unix.SockaddrVM); ok {
		remote = VsockAddr{CID: vm.CID, Port: vm.Port}
	}
	f := os.NewFile(uintptr(nfd), "vsock:"+remote.String())
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("accept on %s: %w", l.addr, err)
	}
	return &vsockConn{f: f, rc: rc, local: l.addr, remote: remote}, nil
}

func (l *vsockListener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}
func (l *vsockListener) Addr() net.Addr { return l.addr }

var _ net.Conn = (*vsockConn)(nil)

// vsockConn is an accepted AF_VSOCK stream.
type vsockConn struct {
	f             *os.File
	rc            syscall.RawConn
	local, remote VsockAddr
}

func (c *vsockConn) Read(p []byte) (int, error)         { return c.f.Read(p) }
func (c *vsockConn) Write(p []byte) (int, error)        { return c.f.Write(p) }
func (c *vsockConn) Close() error                       { return c.f.Close() }
func (c *vsockConn) LocalAddr() net.Addr                { return c.local }
func (c *vsockConn) RemoteAddr() net.Addr               { return c.remote }
func (c *vsockConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *vsockConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *vsockConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// CloseWrite shuts down the sending side, like (*net.TCPConn).CloseWrite.
func (c *vsockConn) CloseWrite() error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}

// VsockAddr is an AF_VSOCK address.
type VsockAddr struct {
	CID  uint32
	Port uint32
}

// Network implements net.Addr.
func (VsockAddr) Network() string { return "vsock" }

func (a VsockAddr) String() string {
	if a.CID == unix.VMADDR_CID_ANY {
		return fmt.Sprintf("vsock:any:%d", a.Port)
	}
	return fmt.Sprintf("vsock:%d:%d", a.CID, a.Port)
}
