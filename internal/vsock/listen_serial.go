package vsock

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

const (
	serialBacklog = 64
	// A virtio-serial port reads EOF while no host is attached; the guest
	// then reopens it with this backoff. The host repeats HELLO, so this
	// bounds how long a freshly attached host waits.
	serialMinBackoff = 50 * time.Millisecond
	serialMaxBackoff = 500 * time.Millisecond
	// resetInterval rate-limits RESET replies to frames of an unknown session.
	resetInterval = time.Second
)

// errListenerClosed ends the session of a closed serial listener.
var errListenerClosed = errors.New("serial listener closed")

// errHostReset is what guest streams see when a new host session starts.
var errHostReset = errors.New("host started a new session")

// ListenSerial opens the guest end of the serial mux, a virtio-serial port
// such as /dev/virtio-ports/banger.agent, and returns a listener whose Accept
// yields the streams the host opens to port; streams for other ports are
// refused. The port is one byte stream that reads EOF while no host is
// attached: the listener then drops its streams, reopens the device with
// backoff and waits for a host HELLO. It keeps doing so until Close.
func ListenSerial(devPath string, port uint32) (net.Listener, error) {
	return ListenSerialLog(devPath, port, nil)
}

// ListenSerialLog is ListenSerial with a logger for link events (host
// attached, resynchronisation after invalid frames).
func ListenSerialLog(devPath string, port uint32, log *slog.Logger) (net.Listener, error) {
	open := func() (io.ReadWriteCloser, error) { return os.OpenFile(devPath, os.O_RDWR, 0) }
	dev, err := open()
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", devPath, err)
	}
	return listenSerial(dev, open, port, SerialAddr{Path: devPath, Port: port}, log), nil
}

// SerialAddr is the address of a serial mux listener.
type SerialAddr struct {
	Path string
	Port uint32
}

// Network implements net.Addr.
func (SerialAddr) Network() string { return "vsock-serial" }

func (a SerialAddr) String() string { return fmt.Sprintf("%s port %d", a.Path, a.Port) }

type serialListener struct {
	port    uint32
	addr    net.Addr
	open    func() (io.ReadWriteCloser, error)
	log     *slog.Logger
	backlog chan *Stream
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu  sync.Mutex
	cur *session
}

// listenSerial runs the listener on an already opened device; open reopens
// it after EOF or an error.
func listenSerial(dev io.ReadWriteCloser, open func() (io.ReadWriteCloser, error), port uint32, addr net.Addr, log *slog.Logger) *serialListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &serialListener{
		port:    port,
		addr:    addr,
		open:    open,
		log:     log,
		backlog: make(chan *Stream, serialBacklog),
		done:    make(chan struct{}),
	}
	l.wg.Add(1)
	go l.run(dev)
	return l
}

func (l *serialListener) run(dev io.ReadWriteCloser) {
	defer l.wg.Done()
	backoff := serialMinBackoff
	for {
		h := &guestHandler{l: l}
		s := newSession(dev, h, l.log)
		l.mu.Lock()
		l.cur = s
		l.mu.Unlock()
		select {
		case <-l.done:
			dev.Close()
			return
		default:
		}
		// Announce a fresh guest end: a host still holding a session with a
		// previous agent process drops it and reconnects. Queued before the
		// reader starts so it precedes any HELLO reply.
		s.sendControl(frame{typ: frameReset, payload: reasonPayload("guest port reopened")})
		s.start()
		err := s.wait()
		if h.everSynced {
			backoff = serialMinBackoff
		}
		l.log.Debug("serial mux session ended", "error", err)
		for {
			if !l.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, serialMaxBackoff)
			if dev, err = l.open(); err == nil {
				break
			}
			l.log.Debug("reopen serial port", "error", err)
		}
	}
}

func (l *serialListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.done:
		return false
	case <-t.C:
		return true
	}
}

// Accept implements net.Listener.
func (l *serialListener) Accept() (net.Conn, error) {
	select {
	case st := <-l.backlog:
		return st, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: it closes the device and every stream.
func (l *serialListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		s := l.cur
		l.mu.Unlock()
		if s != nil {
			s.fail(errListenerClosed)
		}
		l.wg.Wait()
		for {
			select {
			case st := <-l.backlog:
				st.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr implements net.Listener.
func (l *serialListener) Addr() net.Addr { return l.addr }

// guestHandler is the guest role of a session. Its state is only touched on
// the reader goroutine.
type guestHandler struct {
	l          *serialListener
	synced     bool
	everSynced bool
	nonce      uint64
	lastReset  time.Time
}

func (g *guestHandler) hunting() bool { return !g.synced }

func (g *guestHandler) onFrame(s *session, f frame) error {
	if f.typ == frameHello {
		version, nonce := parseHello(f.payload)
		if version != protocolVersion {
			return g.reset(s, fmt.Sprintf("unsupported protocol version %d", version))
		}
		if !g.synced || nonce != g.nonce {
			s.dropStreams(fmt.Errorf("%w: %w", ErrLinkDown, errHostReset))
			g.synced, g.everSynced, g.nonce = true, true, nonce
			g.l.log.Info("serial mux: host attached")
		}
		return s.sendControl(frame{typ: frameHello, payload: helloPayload(nonce)})
	}
	if !g.synced {
		// A host talking to a session we do not have: tell it, at a
		// bounded rate, so it reconnects.
		if time.Since(g.lastReset) < resetInterval {
			return nil
		}
		return g.reset(s, "no session")
	}
	switch f.typ {
	case frameOpen:
		return g.onOpen(s, f.stream, u32(f.payload))
	case frameReset, frameOpenOK, frameOpenRefused:
		return fmt.Errorf("%w: host sent %s", errCorrupt, f.typ)
	}
	return s.onStreamFrame(f)
}

func (g *guestHandler) onOpen(s *session, id, port uint32) error {
	if port != g.l.port {
		return s.sendControl(frame{typ: frameOpenRefused, stream: id, payload: reasonPayload(fmt.Sprintf("no listener on port %d", port))})
	}
	st, ok := s.add(id, port)
	if !ok {
		return fmt.Errorf("%w: OPEN for stream %d which is already open", errCorrupt, id)
	}
	// OPEN_OK goes out before the stream is handed over, so it precedes
	// anything the accepting side writes.
	if err := s.sendControl(frame{typ: frameOpenOK, stream: id}); err != nil {
		return err
	}
	select {
	case g.l.backlog <- st:
	default:
		st.Close() // backlog full: the host sees an immediate EOF
	}
	return nil
}

// onCorrupt resynchronises: drop every stream, tell the host, hunt for the
// next HELLO. The device stays open.
func (g *guestHandler) onCorrupt(s *session, err error) error {
	g.l.log.Warn("serial mux: invalid frame, resynchronising", "error", err)
	return g.reset(s, err.Error())
}

func (g *guestHandler) reset(s *session, reason string) error {
	if g.synced {
		s.dropStreams(fmt.Errorf("%w: %s", ErrLinkDown, reason))
	}
	g.synced = false
	g.lastReset = time.Now()
	return s.sendControl(frame{typ: frameReset, payload: reasonPayload(reason)})
}
