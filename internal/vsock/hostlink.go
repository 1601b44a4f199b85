package vsock

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// helloInterval is how often the host repeats HELLO until the guest answers:
// the guest may be between reopens of its port, or still booting.
const helloInterval = 200 * time.Millisecond

// ErrRefused means the guest has no listener on the requested port.
var ErrRefused = errors.New("guest refused the stream")

// errPeerReset is the host session error after the guest sent RESET.
var errPeerReset = errors.New("guest reset the link")

// hostLink is the host end of an established serial mux session.
type hostLink struct {
	s      *session
	h      *hostHandler
	nextID atomic.Uint32
}

// dialLink dials the serial link and performs the HELLO exchange.
func dialLink(ctx context.Context, dial func(context.Context) (net.Conn, error), log *slog.Logger) (*hostLink, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial serial link: %w", err)
	}
	var nb [8]byte
	rand.Read(nb[:])
	h := &hostHandler{
		nonce:       binary.BigEndian.Uint64(nb[:]),
		established: make(chan struct{}),
		pending:     make(map[uint32]chan error),
	}
	s := newSession(conn, h, log)
	s.start()
	tick := time.NewTicker(helloInterval)
	defer tick.Stop()
	for {
		if err := s.sendControl(frame{typ: frameHello, payload: helloPayload(h.nonce)}); err != nil {
			s.fail(err)
		}
		select {
		case <-h.established:
			return &hostLink{s: s, h: h}, nil
		case <-s.done:
			return nil, fmt.Errorf("serial link handshake: %w", s.wait())
		case <-ctx.Done():
			s.fail(errors.New("handshake abandoned"))
			s.wait()
			return nil, fmt.Errorf("serial link handshake: guest agent did not answer: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// open opens a stream to the guest port and waits for the guest's answer.
func (l *hostLink) open(ctx context.Context, port uint32) (*Stream, error) {
	id := l.nextID.Add(1)
	if id == 0 {
		l.s.fail(errors.New("stream ids exhausted"))
		return nil, ErrLinkDown
	}
	st, ok := l.s.add(id, port)
	if !ok {
		return nil, fmt.Errorf("open port %d: %w: %w", port, ErrLinkDown, l.s.wait())
	}
	ch := l.h.expect(id)
	l.s.send(st.gen, frame{typ: frameOpen, stream: id, payload: u32bytes(port)})
	select {
	case err := <-ch:
		if err != nil {
			return nil, fmt.Errorf("open port %d: %w", port, err)
		}
		return st, nil
	case <-l.s.done:
		return nil, fmt.Errorf("open port %d: %w: %w", port, ErrLinkDown, l.s.wait())
	case <-ctx.Done():
		l.h.cancel(id)
		st.Close()
		return nil, fmt.Errorf("open port %d: guest did not answer: %w", port, ctx.Err())
	}
}

func (l *hostLink) alive() bool {
	select {
	case <-l.s.done:
		return false
	default:
		return true
	}
}

func (l *hostLink) close(err error) { l.s.fail(err) }

// hostHandler is the host role of a session.
type hostHandler struct {
	nonce       uint64
	est         bool // reader goroutine only
	established chan struct{}

	mu      sync.Mutex
	pending map[uint32]chan error
}

func (h *hostHandler) hunting() bool { return !h.est }

func (h *hostHandler) expect(id uint32) chan error {
	ch := make(chan error, 1)
	h.mu.Lock()
	h.pending[id] = ch
	h.mu.Unlock()
	return ch
}

func (h *hostHandler) cancel(id uint32) {
	h.mu.Lock()
	delete(h.pending, id)
	h.mu.Unlock()
}

func (h *hostHandler) resolve(id uint32, err error) bool {
	h.mu.Lock()
	ch, ok := h.pending[id]
	delete(h.pending, id)
	h.mu.Unlock()
	if ok {
		ch <- err
	}
	return ok
}

func (h *hostHandler) onFrame(s *session, f frame) error {
	switch f.typ {
	case frameHello:
		if _, nonce := parseHello(f.payload); nonce == h.nonce && !h.est {
			h.est = true
			close(h.established)
		}
		return nil
	case frameReset:
		if h.est {
			return fmt.Errorf("%w: %s", errPeerReset, f.payload)
		}
		return nil // the guest announcing itself before it answers our HELLO
	}
	if !h.est {
		return nil // leftovers of an earlier session
	}
	switch f.typ {
	case frameOpenOK:
		h.resolve(f.stream, nil)
		return nil
	case frameOpenRefused:
		if st := s.lookup(f.stream); st != nil {
			s.forget(st)
		}
		h.resolve(f.stream, fmt.Errorf("%w: %s", ErrRefused, f.payload))
		return nil
	case frameOpen:
		return fmt.Errorf("%w: guest sent OPEN", errCorrupt)
	}
	return s.onStreamFrame(f)
}

// onCorrupt: the host never tries to resynchronise an established link; it
// drops the connection and a later stream redials.
func (h *hostHandler) onCorrupt(s *session, err error) error { return err }
