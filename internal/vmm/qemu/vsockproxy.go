package qemu

import (
	"banger/internal/connset"

	"banger/internal/vsock"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// With vhost-vsock the guest agent is reachable from the host on
// AF_VSOCK <cid>:<port>, but banger's host side speaks Firecracker's
// hybrid-vsock handshake on a unix socket. The proxy below turns one into
// the other: accept, read "CONNECT <port>\n", dial the guest, answer
// "OK <local port>\n", then copy bytes both ways. As with Firecracker, a
// port nobody listens on gets its connection closed without "OK".

// handshakeTimeout bounds reading the CONNECT line from a client.
const handshakeTimeout = 5 * time.Second

// vsockConn is a connected stream to the guest.
type vsockConn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// vsockDialer connects to a guest port and returns the host's local port.
type vsockDialer func(ctx context.Context, port uint32) (vsockConn, uint32, error)

type handshakeProxy struct {
	ln   net.Listener
	dial vsockDialer
	log  *slog.Logger
	wg   sync.WaitGroup

	conns connset.Set
}

// serveHandshakeProxy serves udsPath (mode 0600) until Close.
func serveHandshakeProxy(udsPath string, dial vsockDialer, log *slog.Logger) (io.Closer, error) {
	ln, err := vsock.ListenHostSocket(udsPath)
	if err != nil {
		return nil, err
	}
	p := &handshakeProxy{ln: ln, dial: dial, log: log.With("socket", udsPath)}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Close stops serving, closes every proxied connection and removes the
// socket file.
func (p *handshakeProxy) Close() error {
	if !p.conns.Close() {
		return nil
	}
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *handshakeProxy) track(c io.Closer) bool { return p.conns.Add(c) }

func (p *handshakeProxy) untrack(c io.Closer) {
	p.conns.Remove(c)
	c.Close()
}

func (p *handshakeProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("agent socket: accept failed, no longer serving", "error", err)
			}
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *handshakeProxy) handle(c net.Conn) {
	port, err := vsock.ReadConnect(c, handshakeTimeout)
	if err != nil {
		p.log.Debug("agent socket: bad handshake", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	g, local, err := p.dial(ctx, port)
	cancel()
	if err != nil {
		p.log.Debug("agent socket: guest port not reachable", "port", port, "error", err)
		return
	}
	if !p.track(g) {
		g.Close()
		return
	}
	defer p.untrack(g)
	if err := vsock.WriteOK(c, local); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(g, c)
		g.CloseWrite()
		close(done)
	}()
	io.Copy(c, g)
	// The guest is done: like Firecracker, end the whole connection rather
	// than wait for a client that may never close its side.
	c.Close()
	<-done
}

// dialVsock connects to cid:port over AF_VSOCK. The connect itself is
// blocking and bounded by the kernel's vsock connect timeout (2 s by
// default); the connected socket then runs on the Go poller.
func dialVsock(ctx context.Context, cid, port uint32) (vsockConn, uint32, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("create vsock socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrVM{CID: cid, Port: port}); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("connect to vsock %d:%d: %w", cid, port, err)
	}
	var local uint32
	if sa, err := unix.Getsockname(fd); err == nil {
		if vm, ok := sa.(*unix.SockaddrVM); ok {
			local = vm.Port
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("vsock %d:%d: %w", cid, port, err)
	}
	return &vsockFile{File: os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d:%d", cid, port))}, local, nil
}

type vsockFile struct{ *os.File }

func (f *vsockFile) CloseWrite() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}
