package vsock

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testPort = 10700

// harness wires ServeMux (host) to a serial listener (guest) the way qemu
// does: each host dial of the serial socket is one connection, and the
// guest's reopen of its port picks it up. Between hosts the guest port
// reads EOF.
type harness struct {
	t     *testing.T
	uds   string
	ends  chan net.Conn
	dials atomic.Int32
	mux   io.Closer
	ln    *serialListener

	linksMu sync.Mutex
	links   []net.Conn // host ends of every serial link dialed
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, uds: shortSock(t), ends: make(chan net.Conn, 16)}
	open := func() (io.ReadWriteCloser, error) {
		select {
		case c := <-h.ends:
			return c, nil
		case <-time.After(20 * time.Millisecond):
			return nil, os.ErrNotExist
		}
	}
	h.ln = listenSerial(eofDevice{}, open, testPort, SerialAddr{Path: "test", Port: testPort}, nil)
	t.Cleanup(func() { h.ln.Close() })
	h.startHost()
	return h
}

func (h *harness) dialSerial(ctx context.Context) (net.Conn, error) {
	a, b := socketPair(h.t)
	h.dials.Add(1)
	h.linksMu.Lock()
	h.links = append(h.links, a)
	h.linksMu.Unlock()
	h.ends <- b
	return a, nil
}

// dropLink cuts the serial link under the mux, as a guest reboot or a qemu
// chardev hiccup would.
func (h *harness) dropLink() {
	h.linksMu.Lock()
	defer h.linksMu.Unlock()
	for _, c := range h.links {
		c.Close()
	}
}

func (h *harness) startHost() {
	m, err := ServeMux(h.uds, h.dialSerial, nil)
	if err != nil {
		h.t.Fatalf("ServeMux: %v", err)
	}
	h.mux = m
	h.t.Cleanup(func() { m.Close() })
}

func (h *harness) dial(port uint32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Dial(ctx, h.uds, port)
}

// eofDevice is a guest port with no host attached.
type eofDevice struct{}

func (eofDevice) Read([]byte) (int, error)    { return 0, io.EOF }
func (eofDevice) Write(p []byte) (int, error) { return len(p), nil }
func (eofDevice) Close() error                { return nil }

// serveEcho echoes every accepted stream back, passing the half-close on.
func serveEcho(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*Stream).CloseWrite()
			}()
		}
	}()
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// roundTrip sends data, half-closes, and returns everything echoed back.
func roundTrip(c net.Conn, data []byte) ([]byte, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.UnixConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return got, fmt.Errorf("write: %w", err)
	}
	return got, rerr
}

func TestMuxManyConcurrentStreams(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	serveEcho(h.ln)
	sizes := []int{}
	for range 32 {
		sizes = append(sizes, 300<<10)
	}
	sizes = append(sizes, 16<<20, 16<<20, 1, 0)
	var wg sync.WaitGroup
	errs := make(chan error, len(sizes))
	for i, n := range sizes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.dial(testPort)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			data := randomBytes(uint64(i), n)
			got, err := roundTrip(c, data)
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				errs <- fmt.Errorf("stream %d: echoed %d bytes differ from the %d sent", i, len(got), n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := h.dials.Load(); d != 1 {
		t.Errorf("serial link dialed %d times, want 1 shared link", d)
	}
}

func TestMuxHalfClose(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	go func() {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c) // returns at the host's half-close
		fmt.Fprintf(c, "got %d bytes", len(req))
	}()
	c, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "question")
	c.(*net.UnixConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil || string(reply) != "got 8 bytes" {
		t.Fatalf("reply %q, %v", reply, err)
	}
}

func TestMuxRefusedPortLooksLikeNoListener(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	serveEcho(h.ln)
	// One attempt (Dial would retry "no listener" until its deadline).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := dialOnce(ctx, h.uds, 9999)
	if !errors.Is(err, ErrNoListener) {
		t.Fatalf("got %v, want ErrNoListener", err)
	}
	// The refusal must not have hurt the link.
	c, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	got, err := roundTrip(c, []byte("still fine"))
	c.Close()
	if err != nil || string(got) != "still fine" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestMuxHostRestartReattaches(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c1, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	g1 := <-accepted
	defer g1.Close()

	// The host process goes away with a stream open.
	h.mux.Close()
	c1.Close()
	// Depending on whether the host got its CLOSE out before dropping the
	// link, the guest sees a clean EOF or the lost link; never a hang.
	if _, err := g1.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, ErrLinkDown) {
		t.Fatalf("guest stream after host exit: got %v, want EOF or ErrLinkDown", err)
	}

	h.startHost()
	c2, err := h.dial(testPort)
	if err != nil {
		t.Fatalf("dial after host restart: %v", err)
	}
	defer c2.Close()
	g2 := <-accepted
	defer g2.Close()
	io.WriteString(c2, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(g2, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("guest read %q, %v", buf, err)
	}
	if d := h.dials.Load(); d != 2 {
		t.Fatalf("serial link dialed %d times, want 2", d)
	}
}

func TestMuxSlowConsumerDoesNotBlockOthers(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	// Stream A: the guest writes far more than the window and the host
	// side does not read.
	a, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ga := <-accepted
	defer ga.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := ga.Write(make([]byte, 8<<20))
		wrote <- err
	}()
	time.Sleep(100 * time.Millisecond)

	// Stream B must still work both ways.
	b, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gb := <-accepted
	defer gb.Close()
	go func() { io.Copy(gb, gb); gb.(*Stream).CloseWrite() }()
	got, err := roundTrip(b, randomBytes(3, 1<<20))
	if err != nil || len(got) != 1<<20 {
		t.Fatalf("stream B: %d bytes, %v", len(got), err)
	}
	select {
	case err := <-wrote:
		t.Fatalf("stream A write finished (%v) although nobody read it", err)
	default:
	}
	// Now drain A: the blocked writer completes.
	go io.Copy(io.Discard, a)
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("stream A write: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("stream A writer still blocked after the host drained it")
	}
}

func TestMuxCloseReleasesEverything(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	serveEcho(h.ln)
	c, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.mux.Close()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("client conn after mux Close: %v", err)
	}
	if _, err := os.Stat(h.uds); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

func TestServeMuxSocketModeAndStaleFile(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	// A stale socket from a dead process is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	never := func(ctx context.Context) (net.Conn, error) { return nil, errors.New("no serial") }
	m, err := ServeMux(path, never, nil)
	if err != nil {
		t.Fatalf("ServeMux over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// A live one is not stolen.
	if _, err := ServeMux(path, never, nil); err == nil {
		t.Fatal("second ServeMux on a live socket succeeded")
	}
	// With no serial link the client sees "no listener".
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dialOnce(ctx, path, 1); !errors.Is(err, ErrNoListener) {
		t.Fatalf("got %v, want ErrNoListener", err)
	}
	m.Close()
	// A regular file is never removed.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := ServeMux(path, never, nil); err == nil {
		t.Fatal("ServeMux replaced a regular file")
	}
}

func TestStreamDeadlines(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := h.ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := h.dial(testPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := <-accepted
	defer g.Close()
	g.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = g.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout net.Error", err)
	}
	// Clearing the deadline makes the stream usable again.
	g.SetReadDeadline(time.Time{})
	io.WriteString(c, "x")
	if _, err := g.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	// A write deadline fires while the window is exhausted.
	g.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := g.Write(make([]byte, 32<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: got %v, want deadline exceeded", err)
	}
	// Close unblocks a reader.
	done := make(chan error, 1)
	go func() { _, err := g.Read(make([]byte, 1)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	g.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}
