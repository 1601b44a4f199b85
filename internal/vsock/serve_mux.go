package vsock

import (
	"banger/internal/vmm"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// connectTimeout bounds reading "CONNECT <port>\n" from a client.
const connectTimeout = 5 * time.Second

// linkTimeout bounds dialing the serial link plus the HELLO exchange, and
// separately the guest's answer to OPEN. A guest that does not answer an
// OPEN in time has a wedged session: the link is dropped. A variable so
// tests can shorten it.
var linkTimeout = 5 * time.Second

// ServeMux serves a Firecracker-style hybrid vsock socket at udsPath (mode
// 0600) on top of the serial mux: every accepted connection names a guest
// port with "CONNECT <port>\n" and is carried as one stream over a single
// serial link to the guest. The link is dialed with dialSerial when first
// needed and redialed after it drops, so a restarted host process re-attaches
// to a running guest. As with Firecracker, a connection the guest does not
// accept is closed without "OK". Close stops serving and closes every
// connection and the link.
func ServeMux(udsPath string, dialSerial func(ctx context.Context) (net.Conn, error), log *slog.Logger) (io.Closer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := ListenHostSocket(udsPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &mux{
		ln:     ln,
		dial:   dialSerial,
		log:    log.With("socket", udsPath),
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// ListenHostSocket listens on the host side of a VM's agent socket (mode
// 0600). A socket file left by a dead process is replaced; a live socket or
// a file that is not a socket is an error.
func ListenHostSocket(path string) (net.Listener, error) {
	if err := vmm.RemoveStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on vsock socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod vsock socket: %w", err)
	}
	return ln, nil
}

type mux struct {
	ln     net.Listener
	dial   func(context.Context) (net.Conn, error)
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{}
	link    *hostLink
	linking chan struct{} // closed when the attempt in flight finishes
	lastErr error
}

func (m *mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	link := m.link
	m.mu.Unlock()
	m.cancel()
	err := m.ln.Close()
	if link != nil {
		link.close(errors.New("vsock mux closed"))
	}
	m.wg.Wait()
	return err
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Error("vsock mux: accept failed, no longer serving", "error", err)
			}
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.conns[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.handle(c)
	}
}

func (m *mux) handle(c net.Conn) {
	defer m.wg.Done()
	defer func() {
		c.Close()
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
	}()
	port, err := ReadConnect(c, connectTimeout)
	if err != nil {
		m.log.Debug("vsock mux: bad CONNECT", "error", err)
		return
	}
	st, err := m.open(port)
	if err != nil {
		m.log.Debug("vsock mux: no stream", "port", port, "error", err)
		return
	}
	if err := WriteOK(c, st.id); err != nil {
		st.Close()
		return
	}
	splice(c, st)
}

// open gets a live link (dialing it if needed) and opens a stream on it.
func (m *mux) open(port uint32) (*Stream, error) {
	ctx, cancel := context.WithTimeout(m.ctx, linkTimeout)
	defer cancel()
	link, err := m.getLink(ctx)
	if err != nil {
		return nil, err
	}
	octx, ocancel := context.WithTimeout(m.ctx, linkTimeout)
	defer ocancel()
	st, err := link.open(octx, port)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		m.log.Warn("vsock mux: guest did not answer OPEN, dropping serial link", "port", port)
		link.close(errors.New("guest did not answer OPEN"))
	}
	return st, err
}

// getLink returns the live link, or joins (or starts) the one dial attempt
// in flight. A failed attempt fails all its waiters; the next connection
// starts a new one.
func (m *mux) getLink(ctx context.Context) (*hostLink, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, net.ErrClosed
	}
	if m.link != nil && m.link.alive() {
		l := m.link
		m.mu.Unlock()
		return l, nil
	}
	if m.linking == nil {
		m.linking = make(chan struct{})
		m.wg.Add(1)
		go m.connect(m.linking)
	}
	ch := m.linking
	m.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.link != nil && m.link.alive() {
		return m.link, nil
	}
	if m.lastErr != nil {
		return nil, m.lastErr
	}
	return nil, ErrLinkDown // it came up and died already
}

func (m *mux) connect(done chan struct{}) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, linkTimeout)
	defer cancel()
	link, err := dialLink(ctx, m.dial, m.log)
	m.mu.Lock()
	m.linking = nil
	m.lastErr = err
	if err == nil {
		if m.closed {
			link.close(errors.New("vsock mux closed"))
		} else {
			m.link = link
			m.wg.Add(1)
			go m.watch(link)
		}
	}
	close(done)
	m.mu.Unlock()
	if err == nil {
		m.log.Info("vsock mux: serial link up")
	} else {
		m.log.Debug("vsock mux: serial link attempt failed", "error", err)
	}
}

// watch forgets the link once it dies so the next connection redials.
func (m *mux) watch(link *hostLink) {
	defer m.wg.Done()
	err := link.s.wait()
	m.mu.Lock()
	if m.link == link {
		m.link = nil
	}
	closed := m.closed
	m.mu.Unlock()
	if !closed {
		m.log.Info("vsock mux: serial link down", "error", err)
	}
}

// splice copies both ways, passing half-closes through. An error in one
// direction tears down both.
func splice(c net.Conn, st *Stream) {
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(st, c)
		if err == nil {
			err = st.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(c, st)
		if err == nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			}
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		c.Close()
		st.Close()
	}
	<-errc
	c.Close()
	st.Close()
}
