package vsock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// initialWindow is how many unacknowledged bytes each side may send on a
// stream. The reader goroutine of a session never blocks on a slow stream
// consumer because a stream's buffer can never exceed this.
const initialWindow = 256 << 10

// ErrLinkDown is returned by stream operations after the serial link that
// carried the stream was lost or reset.
var ErrLinkDown = errors.New("serial link lost")

// errPeerClosed is returned by Write after the peer closed the stream.
var errPeerClosed = errors.New("stream closed by peer")

var _ net.Conn = (*Stream)(nil)

// Stream is one multiplexed connection over the serial link. It implements
// net.Conn, including deadlines, and CloseWrite for half-close.
type Stream struct {
	sess *session
	gen  uint64 // session generation the stream belongs to
	id   uint32
	port uint32

	mu   sync.Mutex
	cond *sync.Cond

	rbuf      bytes.Buffer
	recvAvail int // credit the peer still has
	unacked   int // bytes read locally but not yet returned as credit
	sendAvail int // credit we still have

	readEOF     bool  // peer sent CLOSE_WRITE or CLOSE
	peerClosed  bool  // peer sent CLOSE
	writeClosed bool  // we sent CLOSE_WRITE or CLOSE
	closed      bool  // local Close was called
	linkErr     error // session reset under us

	rdl, wdl       time.Time
	rTimer, wTimer *time.Timer
}

func newStream(s *session, gen uint64, id, port uint32) *Stream {
	st := &Stream{sess: s, gen: gen, id: id, port: port, recvAvail: initialWindow, sendAvail: initialWindow}
	st.cond = sync.NewCond(&st.mu)
	return st
}

// Read implements net.Conn. Buffered data is returned before EOF or a link
// error.
func (st *Stream) Read(p []byte) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for st.rbuf.Len() == 0 {
		switch {
		case st.closed:
			return 0, net.ErrClosed
		case st.readEOF:
			return 0, io.EOF
		case st.linkErr != nil:
			return 0, st.linkErr
		case expired(st.rdl):
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return 0, nil
		}
		st.cond.Wait()
	}
	n, _ := st.rbuf.Read(p)
	st.unacked += n
	// Return credit in batches so a byte-at-a-time reader does not cause a
	// WINDOW frame per byte.
	if st.unacked >= initialWindow/4 && !st.readEOF && st.linkErr == nil {
		st.recvAvail += st.unacked
		st.sess.send(st.gen, frame{typ: frameWindow, stream: st.id, payload: u32bytes(uint32(st.unacked))})
		st.unacked = 0
	}
	return n, nil
}

// Write implements net.Conn. It blocks while the peer has not returned
// enough credit.
func (st *Stream) Write(p []byte) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for len(p) > 0 {
		for st.sendAvail == 0 {
			if err := st.writeErr(); err != nil {
				return n, err
			}
			st.cond.Wait()
		}
		if err := st.writeErr(); err != nil {
			return n, err
		}
		k := min(len(p), st.sendAvail, maxPayload)
		st.sendAvail -= k
		st.sess.send(st.gen, frame{typ: frameData, stream: st.id, payload: append([]byte(nil), p[:k]...)})
		n += k
		p = p[k:]
	}
	return n, nil
}

func (st *Stream) writeErr() error {
	switch {
	case st.closed:
		return net.ErrClosed
	case st.writeClosed:
		return fmt.Errorf("write stream %d: %w", st.id, net.ErrClosed)
	case st.linkErr != nil:
		return st.linkErr
	case st.peerClosed:
		return fmt.Errorf("write stream %d: %w", st.id, errPeerClosed)
	case expired(st.wdl):
		return os.ErrDeadlineExceeded
	}
	return nil
}

// CloseWrite half-closes the stream: the peer reads EOF after the data
// already written, and can still send.
func (st *Stream) CloseWrite() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return net.ErrClosed
	}
	if st.writeClosed || st.linkErr != nil {
		return nil
	}
	st.writeClosed = true
	st.sess.send(st.gen, frame{typ: frameCloseWrite, stream: st.id})
	st.cond.Broadcast()
	return nil
}

// Close implements net.Conn. Data already written is still delivered;
// unread received data is discarded.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	st.writeClosed = true
	st.rbuf = bytes.Buffer{}
	st.stopTimers()
	forget := st.peerClosed || st.linkErr != nil
	if st.linkErr == nil {
		st.sess.send(st.gen, frame{typ: frameClose, stream: st.id})
	}
	st.cond.Broadcast()
	st.mu.Unlock()
	if forget {
		st.sess.forget(st)
	}
	return nil
}

// LocalAddr implements net.Conn.
func (st *Stream) LocalAddr() net.Addr { return MuxAddr{Port: st.port, Stream: st.id} }

// RemoteAddr implements net.Conn.
func (st *Stream) RemoteAddr() net.Addr { return MuxAddr{Port: st.port, Stream: st.id} }

// SetDeadline implements net.Conn.
func (st *Stream) SetDeadline(t time.Time) error {
	st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.rdl = t
	st.rTimer = st.armTimer(st.rTimer, t)
	st.cond.Broadcast()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.wdl = t
	st.wTimer = st.armTimer(st.wTimer, t)
	st.cond.Broadcast()
	return nil
}

// armTimer wakes the waiters when the deadline passes; they re-check it.
func (st *Stream) armTimer(old *time.Timer, t time.Time) *time.Timer {
	if old != nil {
		old.Stop()
	}
	if t.IsZero() || st.closed {
		return nil
	}
	return time.AfterFunc(time.Until(t), func() {
		st.mu.Lock()
		st.cond.Broadcast()
		st.mu.Unlock()
	})
}

func (st *Stream) stopTimers() {
	for _, t := range []*time.Timer{st.rTimer, st.wTimer} {
		if t != nil {
			t.Stop()
		}
	}
	st.rTimer, st.wTimer = nil, nil
}

func expired(dl time.Time) bool { return !dl.IsZero() && !time.Now().Before(dl) }

// The handlers below run on the session's reader goroutine. They never
// block on the stream's consumer. An error is a protocol violation.

func (st *Stream) onData(p []byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.readEOF {
		return fmt.Errorf("%w: data on stream %d after its close", errCorrupt, st.id)
	}
	if len(p) > st.recvAvail {
		return fmt.Errorf("%w: stream %d overran its window (%d > %d)", errCorrupt, st.id, len(p), st.recvAvail)
	}
	st.recvAvail -= len(p)
	if st.closed {
		return nil // nobody will read it
	}
	st.rbuf.Write(p)
	st.cond.Broadcast()
	return nil
}

func (st *Stream) onWindow(inc uint32) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if inc == 0 || int64(st.sendAvail)+int64(inc) > initialWindow {
		return fmt.Errorf("%w: stream %d window increment %d beyond the window", errCorrupt, st.id, inc)
	}
	st.sendAvail += int(inc)
	st.cond.Broadcast()
	return nil
}

func (st *Stream) onCloseWrite() {
	st.mu.Lock()
	st.readEOF = true
	st.cond.Broadcast()
	st.mu.Unlock()
}

// onClose reports whether the stream can be forgotten (both sides closed).
func (st *Stream) onClose() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.readEOF = true
	st.peerClosed = true
	st.cond.Broadcast()
	return st.closed
}

func (st *Stream) onLinkDown(err error) {
	st.mu.Lock()
	if st.linkErr == nil {
		st.linkErr = err
	}
	st.cond.Broadcast()
	st.mu.Unlock()
}

// MuxAddr is the net.Addr of a stream carried over the serial mux.
type MuxAddr struct {
	Port   uint32
	Stream uint32
}

// Network implements net.Addr.
func (MuxAddr) Network() string { return "vsock-serial" }

func (a MuxAddr) String() string { return fmt.Sprintf("port %d stream %d", a.Port, a.Stream) }
