// Package clienttest serves a stand-in bangerd to tests: an http.Handler on
// a unix socket of its own, reached through the real typed client (peer
// check included). Test code only.
package clienttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/client"
)

// Serve serves h on a fresh unix socket until the test ends and returns a
// client for it and the socket's path.
func Serve(t testing.TB, h http.Handler) (*client.Client, string) {
	t.Helper()
	// Not t.TempDir(): its long path can pass the unix socket limit.
	dir, err := os.MkdirTemp("", "bangerd-fake-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bangerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		os.RemoveAll(dir)
	})
	return client.New(sock), sock
}
