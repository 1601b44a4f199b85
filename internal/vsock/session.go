package vsock

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// maxQueuedControl bounds frames queued by the reader goroutine itself
// (replies the peer provoked). A peer that makes us queue more is broken.
const maxQueuedControl = 4096

// writeBatch is the most bytes the writer hands to one Write call.
const writeBatch = 64 << 10

// session is one side of a serial mux link: a reader goroutine that decodes
// frames and dispatches them, and a writer goroutine that drains the send
// queue. The host and guest roles plug in through handler.
type session struct {
	conn io.ReadWriteCloser
	log  *slog.Logger
	h    handler

	mu      sync.Mutex
	streams map[uint32]*Stream
	gen     uint64 // bumped whenever the guest drops all streams
	outq    []frame
	control int // frames in outq queued by the reader goroutine
	wake    chan struct{}
	err     error
	done    chan struct{}
	wg      sync.WaitGroup
}

// handler is the role-specific half of a session. Its methods run on the
// reader goroutine; returning an error kills the session.
type handler interface {
	// hunting reports whether the decoder should skip garbage (out of sync).
	hunting() bool
	// onFrame handles one decoded frame.
	onFrame(s *session, f frame) error
	// onCorrupt handles an invalid frame while in sync; returning nil keeps
	// the connection (the guest resynchronises instead).
	onCorrupt(s *session, err error) error
}

func newSession(conn io.ReadWriteCloser, h handler, log *slog.Logger) *session {
	return &session{
		conn:    conn,
		log:     log,
		h:       h,
		streams: make(map[uint32]*Stream),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func (s *session) start() {
	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
}

// fail kills the session once: the connection is closed, which ends both
// loops, and every stream sees err.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	close(s.done)
	s.outq = nil
	s.mu.Unlock()
	s.conn.Close()
	s.dropStreams(fmt.Errorf("%w: %w", ErrLinkDown, err))
}

// wait blocks until both loops have exited and returns the session error.
func (s *session) wait() error {
	<-s.done
	s.wg.Wait()
	return s.err
}

// dropStreams fails and forgets every stream and discards their queued
// frames; streams created afterwards belong to a new generation.
func (s *session) dropStreams(err error) {
	s.mu.Lock()
	old := s.streams
	s.streams = make(map[uint32]*Stream)
	s.gen++
	kept := s.outq[:0]
	for _, f := range s.outq {
		if f.stream == 0 {
			kept = append(kept, f)
		}
	}
	clear(s.outq[len(kept):])
	s.outq = kept
	s.mu.Unlock()
	for _, st := range old {
		st.onLinkDown(err)
	}
}

// send queues a frame from a stream of generation gen; frames of dropped
// generations are discarded so a stale stream cannot talk over a new one
// that reuses its id.
func (s *session) send(gen uint64, f frame) {
	s.mu.Lock()
	if s.err == nil && gen == s.gen {
		s.outq = append(s.outq, f)
		s.signal()
	}
	s.mu.Unlock()
}

// sendControl queues a frame from the reader goroutine.
func (s *session) sendControl(f frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil
	}
	if s.control >= maxQueuedControl {
		return fmt.Errorf("peer provoked more than %d unsent replies", maxQueuedControl)
	}
	s.control++
	s.outq = append(s.outq, f)
	s.signal()
	return nil
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) lookup(id uint32) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// add registers a stream in the current generation; false if the id is in
// use or the session is dead.
func (s *session) add(id, port uint32) (*Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.streams[id] != nil {
		return nil, false
	}
	st := newStream(s, s.gen, id, port)
	s.streams[id] = st
	return st, true
}

func (s *session) forget(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

func (s *session) readLoop() {
	defer s.wg.Done()
	dec := newDecoder(s.conn)
	for {
		f, err := dec.next(s.h.hunting())
		if err != nil {
			if errors.Is(err, errCorrupt) {
				if err = s.h.onCorrupt(s, err); err == nil {
					continue
				}
			}
			s.fail(fmt.Errorf("read link: %w", err))
			return
		}
		if err := s.h.onFrame(s, f); err != nil {
			if errors.Is(err, errCorrupt) {
				err = s.h.onCorrupt(s, err)
			}
			if err != nil {
				s.fail(err)
				return
			}
		}
	}
}

func (s *session) writeLoop() {
	defer s.wg.Done()
	var spare []frame
	buf := make([]byte, 0, writeBatch+headerLen+maxPayload)
	for {
		s.mu.Lock()
		for len(s.outq) == 0 && s.err == nil {
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.done:
			}
			s.mu.Lock()
		}
		if s.err != nil {
			s.mu.Unlock()
			return
		}
		q := s.outq
		s.outq = spare[:0]
		s.control = 0
		s.mu.Unlock()

		for i, f := range q {
			buf = appendFrame(buf, f)
			if len(buf) >= writeBatch || i == len(q)-1 {
				if _, err := s.conn.Write(buf); err != nil {
					s.fail(fmt.Errorf("write link: %w", err))
					return
				}
				buf = buf[:0]
			}
		}
		clear(q)
		spare = q
	}
}

// Stream frame dispatch shared by both roles.
func (s *session) onStreamFrame(f frame) error {
	st := s.lookup(f.stream)
	if st == nil {
		// Late frames for a stream we already forgot are normal after a
		// local Close; they carry nothing anyone will read.
		return nil
	}
	switch f.typ {
	case frameData:
		return st.onData(f.payload)
	case frameWindow:
		return st.onWindow(u32(f.payload))
	case frameCloseWrite:
		st.onCloseWrite()
	case frameClose:
		if st.onClose() {
			s.forget(st)
		}
	default:
		return fmt.Errorf("%w: unexpected %s on stream %d", errCorrupt, f.typ, f.stream)
	}
	return nil
}
