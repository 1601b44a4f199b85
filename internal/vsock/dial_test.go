package vsock

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHybridSocket imitates Firecracker's host-side vsock socket: it reads
// "CONNECT <port>\n" and then calls reply, which decides what the guest side
// does with the connection.
func fakeHybridSocket(t *testing.T, path string, reply func(n int, port uint32, c net.Conn)) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, err := readLine(c)
			if err != nil {
				c.Close()
				continue
			}
			port, err := parseConnect(line)
			if err != nil {
				c.Close()
				continue
			}
			reply(n, port, c)
		}
	}()
}

func TestDialRetriesUntilListener(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	fakeHybridSocket(t, path, func(n int, port uint32, c net.Conn) {
		if n < 4 || port != 52 {
			c.Close() // no listener yet
			return
		}
		// The OK line and the first stream bytes arrive in one write: Dial
		// must not swallow any of the stream.
		io.WriteString(c, "OK 1073741824\nhello from guest")
		c.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path, 52)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello from guest" {
		t.Fatalf("stream: got %q, %v", got, err)
	}
}

func TestDialGivesUpWithReason(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	// The caller gives up after the third refusal: Dial has retried.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var attempts atomic.Int32
	fakeHybridSocket(t, path, func(_ int, _ uint32, c net.Conn) {
		if attempts.Add(1) == 3 {
			cancel()
		}
		c.Close()
	})
	_, err := Dial(ctx, path, 10700)
	if !errors.Is(err, ErrNoListener) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrNoListener and Canceled", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "10700") {
		t.Fatalf("error %q does not name the socket and port", err)
	}
	if n := attempts.Load(); n < 3 {
		t.Fatalf("only %d attempts, want retries with backoff", n)
	}
}

func TestDialWaitsForSocketToAppear(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	go func() {
		time.Sleep(150 * time.Millisecond)
		fakeHybridSocket(t, path, func(_ int, _ uint32, c net.Conn) {
			io.WriteString(c, "OK 7\n")
			c.Close()
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, path, 1)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
}

func TestDialBadReplyFailsFast(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	var attempts atomic.Int32
	fakeHybridSocket(t, path, func(_ int, _ uint32, c net.Conn) {
		attempts.Add(1)
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n")
		c.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Dial(ctx, path, 1)
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("got %v, want ErrHandshake", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("a wrong reply was tried %d times, want once", n)
	}
}

func TestDialSilentSocketHonoursContext(t *testing.T) {
	checkLeaks(t)
	path := shortSock(t)
	held := make(chan net.Conn, 10)
	// Registered before the fake so it runs after the fake stopped.
	t.Cleanup(func() {
		close(held)
		for c := range held {
			c.Close()
		}
	})
	fakeHybridSocket(t, path, func(_ int, _ uint32, c net.Conn) { held <- c }) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, path, 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}

func TestParseConnect(t *testing.T) {
	for in, want := range map[string]int64{
		"CONNECT 10700": 10700, "CONNECT 0": 0, "CONNECT 4294967295": 4294967295,
		"CONNECT": -1, "CONNECT -1": -1, "CONNECT 4294967296": -1, "connect 1": -1, "CONNECT 1 2": -1, "": -1,
	} {
		got, err := parseConnect([]byte(in))
		if want < 0 {
			if err == nil {
				t.Errorf("%q: got port %d, want an error", in, got)
			}
			continue
		}
		if err != nil || int64(got) != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
}
