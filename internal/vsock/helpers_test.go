package vsock

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// checkLeaks fails the test if goroutines started during it are still
// running shortly after it (and its later-registered cleanups) finished.
// Register it first so it runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(30 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// socketPair returns a connected pair of kernel-buffered unix stream
// sockets, closer to a real serial link than net.Pipe.
func socketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatalf("socketpair conn: %v", err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}

// shortSock returns a unix socket path short enough for sun_path.
func shortSock(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bvs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir + "/v.sock"
}
