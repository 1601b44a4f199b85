package vsock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// peer speaks raw frames on one end of a link, to script the other side.
type peer struct {
	t   *testing.T
	c   net.Conn
	dec *decoder
}

func newPeer(t *testing.T, c net.Conn) *peer {
	return &peer{t: t, c: c, dec: newDecoder(c)}
}

func (p *peer) send(fs ...frame) {
	p.t.Helper()
	if _, err := p.c.Write(encodeAll(fs)); err != nil {
		p.t.Errorf("peer write: %v", err) // not Fatal: peers run in goroutines
	}
}

func (p *peer) sendRaw(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Errorf("peer write: %v", err)
	}
}

// next returns the next frame (hunting past garbage if asked).
func (p *peer) next(hunting bool) (frame, error) {
	p.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	return p.dec.next(hunting)
}

func (p *peer) expect(typ frameType, stream uint32) frame {
	p.t.Helper()
	f, err := p.next(false)
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.typ != typ || f.stream != stream {
		p.t.Fatalf("got %s on stream %d (%q), want %s on stream %d", f.typ, f.stream, f.payload, typ, stream)
	}
	return f
}

func hello(nonce uint64) frame { return frame{typ: frameHello, payload: helloPayload(nonce)} }

func openFrame(id, port uint32) frame {
	return frame{typ: frameOpen, stream: id, payload: u32bytes(port)}
}

func noGarbageMagic(b []byte) []byte {
	for i := range b {
		if b[i] == magic0 {
			b[i] = 0
		}
	}
	return b
}

func TestGuestResyncsAfterGarbage(t *testing.T) {
	checkLeaks(t)
	hostEnd, guestEnd := socketPair(t)
	defer hostEnd.Close()
	ln := listenSerial(guestEnd, func() (io.ReadWriteCloser, error) { return nil, errors.New("gone") }, testPort, SerialAddr{}, nil)
	defer ln.Close()
	h := newPeer(t, hostEnd)

	h.expect(frameReset, 0) // the guest announces a fresh port
	h.send(openFrame(1, testPort))
	h.expect(frameReset, 0) // an OPEN from a session the guest does not know
	h.send(hello(11))
	if f := h.expect(frameHello, 0); !bytes.Equal(f.payload, helloPayload(11)) {
		t.Fatalf("HELLO echo %x", f.payload)
	}
	h.send(openFrame(1, testPort), openFrame(2, 9))
	h.expect(frameOpenOK, 1)
	if f := h.expect(frameOpenRefused, 2); !strings.Contains(string(f.payload), "no listener on port 9") {
		t.Fatalf("refusal reason %q", f.payload)
	}
	st, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h.send(frame{typ: frameData, stream: 1, payload: []byte("abc")})
	buf := make([]byte, 3)
	if _, err := io.ReadFull(st, buf); err != nil || string(buf) != "abc" {
		t.Fatalf("read %q, %v", buf, err)
	}

	h.sendRaw(noGarbageMagic(randomBytes(5, 4096)))
	h.expect(frameReset, 0)
	if _, err := st.Read(buf); !errors.Is(err, ErrLinkDown) {
		t.Fatalf("stream after garbage: got %v, want ErrLinkDown", err)
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrLinkDown) {
		t.Fatalf("write after garbage: got %v, want ErrLinkDown", err)
	}

	// A new HELLO brings the link back, and stream ids start over.
	h.send(hello(12))
	h.expect(frameHello, 0)
	h.send(openFrame(1, testPort))
	h.expect(frameOpenOK, 1)
	st2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	io.WriteString(st2, "back")
	if f := h.expect(frameData, 1); string(f.payload) != "back" {
		t.Fatalf("data %q", f.payload)
	}
	// The stale stream's Close must not talk over the new stream 1.
	st.Close()
	st2.(*Stream).CloseWrite()
	h.expect(frameCloseWrite, 1)
}

func TestGuestResyncsOnWindowOverrun(t *testing.T) {
	checkLeaks(t)
	hostEnd, guestEnd := socketPair(t)
	defer hostEnd.Close()
	ln := listenSerial(guestEnd, func() (io.ReadWriteCloser, error) { return nil, errors.New("gone") }, testPort, SerialAddr{}, nil)
	defer ln.Close()
	h := newPeer(t, hostEnd)
	h.expect(frameReset, 0)
	h.send(hello(1), openFrame(1, testPort))
	h.expect(frameHello, 0)
	h.expect(frameOpenOK, 1)
	st, _ := ln.Accept()
	defer st.Close()
	chunk := make([]byte, maxPayload)
	for range initialWindow/maxPayload + 1 {
		h.send(frame{typ: frameData, stream: 1, payload: chunk})
	}
	h.expect(frameReset, 0)
}

// scriptedGuest answers the host's HELLO (after sending leftovers of an old
// session) and then runs script.
func scriptedGuest(t *testing.T, c net.Conn, script func(g *peer)) {
	g := newPeer(t, c)
	old := appendFrame(nil, frame{typ: frameData, stream: 3, payload: []byte("tail of an old frame")})
	g.sendRaw(old[9:])
	g.send(frame{typ: frameReset, payload: []byte("guest port reopened")})
	for {
		f, err := g.next(true)
		if err != nil {
			t.Errorf("scripted guest: waiting for HELLO: %v", err)
			return
		}
		if f.typ == frameHello {
			g.send(f)
			break
		}
	}
	script(g)
}

func TestHostSurvivesGarbageBeforeHelloAndDropsLinkOnReset(t *testing.T) {
	checkLeaks(t)
	uds := shortSock(t)
	var dials atomic.Int32
	guests := make(chan net.Conn, 4)
	m, err := ServeMux(uds, func(ctx context.Context) (net.Conn, error) {
		a, b := socketPair(t)
		dials.Add(1)
		guests <- b
		return a, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c := <-guests
		defer c.Close()
		scriptedGuest(t, c, func(g *peer) {
			f, err := g.next(false)
			if err != nil || f.typ != frameOpen {
				t.Errorf("scripted guest: want OPEN, got %v %v", f.typ, err)
				return
			}
			g.send(frame{typ: frameOpenOK, stream: f.stream},
				frame{typ: frameData, stream: f.stream, payload: []byte("hi")},
				frame{typ: frameClose, stream: f.stream})
			// A restarted guest agent announces itself: the host must drop
			// this session rather than keep talking into the void.
			g.send(frame{typ: frameReset, payload: []byte("guest port reopened")})
			for {
				if _, err := g.next(true); err != nil {
					return // the host closed the link: EOF
				}
			}
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, uds, testPort)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "hi" {
		t.Fatalf("got %q, %v", got, err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("host kept the link after the guest's RESET")
	}

	// The next connection redials.
	dropped := make(chan error, 1)
	go func() {
		c := <-guests
		defer c.Close()
		scriptedGuest(t, c, func(g *peer) {
			f, _ := g.next(false)
			g.send(frame{typ: frameOpenOK, stream: f.stream}, frame{typ: frameClose, stream: f.stream})
			// Garbage on an established link: the host drops it.
			g.sendRaw(noGarbageMagic(randomBytes(9, 100)))
			for {
				_, err := g.next(true)
				if err != nil {
					dropped <- err
					return
				}
			}
		})
	}()
	c, err = Dial(ctx, uds, testPort)
	if err != nil {
		t.Fatalf("dial after reset: %v", err)
	}
	io.ReadAll(c)
	c.Close()
	select {
	case err := <-dropped:
		if err != io.EOF {
			t.Fatalf("scripted guest: got %v, want EOF from the host dropping the link", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("host kept a link that carried garbage")
	}
	if d := dials.Load(); d != 2 {
		t.Fatalf("dialed %d times, want 2", d)
	}
}

func TestHostDropsLinkWhenOpenIsNotAnswered(t *testing.T) {
	checkLeaks(t)
	old := linkTimeout
	linkTimeout = 300 * time.Millisecond
	defer func() { linkTimeout = old }()
	uds := shortSock(t)
	guests := make(chan net.Conn, 4)
	m, err := ServeMux(uds, func(ctx context.Context) (net.Conn, error) {
		a, b := socketPair(t)
		guests <- b
		return a, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	closed := make(chan struct{})
	go func() {
		c := <-guests
		defer c.Close()
		scriptedGuest(t, c, func(g *peer) {
			for { // a wedged guest: reads and never answers
				if _, err := g.next(true); err != nil && !errors.Is(err, errCorrupt) {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						continue
					}
					close(closed)
					return
				}
			}
		})
	}()
	// One attempt, answered "no listener" once the OPEN times out.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dialOnce(ctx, uds, testPort); !errors.Is(err, ErrNoListener) {
		t.Fatalf("got %v, want ErrNoListener", err)
	}
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("host kept a link whose guest does not answer OPEN")
	}
}

func TestHostHandshakeTimesOut(t *testing.T) {
	checkLeaks(t)
	// Long enough for HELLO to be repeated even on a loaded machine.
	old := linkTimeout
	linkTimeout = 2 * time.Second
	defer func() { linkTimeout = old }()
	uds := shortSock(t)
	var hellos atomic.Int32
	m, err := ServeMux(uds, func(ctx context.Context) (net.Conn, error) {
		a, b := socketPair(t)
		go func() { // a port with nothing behind it: count HELLOs, never answer
			defer b.Close()
			p := newPeer(t, b)
			for {
				f, err := p.dec.next(true)
				if err != nil {
					return
				}
				if f.typ == frameHello {
					hellos.Add(1)
				}
			}
		}()
		return a, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// One attempt, answered "no listener" once the handshake times out.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dialOnce(ctx, uds, testPort); !errors.Is(err, ErrNoListener) {
		t.Fatalf("got %v, want ErrNoListener", err)
	}
	if hellos.Load() < 2 {
		t.Fatalf("HELLO sent %d times, want repeats until the guest answers", hellos.Load())
	}
}
