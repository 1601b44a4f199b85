package forward

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"
)

// echoServer answers every connection with what it reads.
func echoServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestRelayAndClose(t *testing.T) {
	l, err := Listen("127.0.0.1:0", echoServer(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the forward: %d bytes, %v", len(got), err)
	}
	c.Close()

	// An open connection ends when the forward is closed, and the port
	// is free again.
	open, _ := net.Dial("tcp", l.Addr().String())
	open.Write([]byte("x"))
	buf := make([]byte, 1)
	io.ReadFull(open, buf)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	open.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := open.Read(buf); err == nil {
		t.Errorf("connection survived Close")
	}
	if ln, err := net.Listen("tcp", l.Addr().String()); err != nil {
		t.Errorf("port still taken after Close: %v", err)
	} else {
		ln.Close()
	}
}

func TestPortInUse(t *testing.T) {
	taken, _ := net.Listen("tcp", "127.0.0.1:0")
	defer taken.Close()
	if _, err := Listen(taken.Addr().String(), "127.0.0.1:1", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("listened on a taken port")
	}
}

// BenchmarkThroughput prints MB/s through one forwarded connection.
func BenchmarkThroughput(b *testing.B) {
	l, _ := Listen("127.0.0.1:0", echoServer(b), slog.New(slog.DiscardHandler))
	defer l.Close()
	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	chunk := make([]byte, 64<<10)
	back := make([]byte, len(chunk))
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Write(chunk)
		io.ReadFull(c, back)
	}
}

// BenchmarkConnMemory reports bangerd-side heap per open relayed
// connection (two goroutines, two buffers).
func BenchmarkConnMemory(b *testing.B) {
	l, _ := Listen("127.0.0.1:0", echoServer(b), slog.New(slog.DiscardHandler))
	defer l.Close()
	const n = 100
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var conns []net.Conn
		for j := 0; j < n; j++ {
			c, _ := net.Dial("tcp", l.Addr().String())
			c.Write([]byte("x"))
			io.ReadFull(c, make([]byte, 1))
			conns = append(conns, c)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse)/n, "bytes/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
