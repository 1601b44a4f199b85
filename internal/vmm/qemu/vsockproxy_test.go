package qemu

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeGuest stands in for AF_VSOCK: port 10700 has an echo server, every
// other port refuses, as an unbound vsock port does.
func fakeGuest(t *testing.T) vsockDialer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "guest.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return func(ctx context.Context, port uint32) (vsockConn, uint32, error) {
		if port != 10700 {
			return nil, 0, errors.New("connection reset by peer")
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, 0, err
		}
		return c.(*net.UnixConn), 1073741824, nil
	}
}

func startProxy(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vsock.sock")
	p, err := serveHandshakeProxy(sock, fakeGuest(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return sock
}

func dialProxy(t *testing.T, sock, hello string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, hello); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

func TestHandshakeProxyConnects(t *testing.T) {
	sock := startProxy(t)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	// Data sent right behind the CONNECT line must not be lost.
	c, r := dialProxy(t, sock, "CONNECT 10700\nping\n")
	line, err := r.ReadString('\n')
	if err != nil || line != "OK 1073741824\n" {
		t.Fatalf("handshake reply %q, %v", line, err)
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	io.WriteString(c, "pong\n")
	if echo, err := r.ReadString('\n'); err != nil || echo != "pong\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}

func TestHandshakeProxyClosesWithoutOK(t *testing.T) {
	sock := startProxy(t)
	for _, hello := range []string{"CONNECT 9\n", "HELLO\n", "CONNECT x\n"} {
		_, r := dialProxy(t, sock, hello)
		if b, err := io.ReadAll(r); len(b) != 0 || err != nil {
			t.Errorf("%q: got %q, %v; want the connection closed without a reply", strings.TrimSpace(hello), b, err)
		}
	}
}

func TestHandshakeProxyCloseEndsEverything(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vsock.sock")
	p, err := serveHandshakeProxy(sock, fakeGuest(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, r := dialProxy(t, sock, "CONNECT 10700\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "OK ") {
		t.Fatalf("handshake reply %q", line)
	}
	if _, err := serveHandshakeProxy(sock, fakeGuest(t), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a second proxy took over a live socket")
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close hangs on an open connection")
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("proxied connection still open after Close")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
}
