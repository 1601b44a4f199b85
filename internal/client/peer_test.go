package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// With BANGER_TEST_SERVE_STATUS=<socket> the test binary is a stand-in
// daemon: it answers /v1/status on that socket, prints "ready" once it
// listens, and exits when its stdin closes.
func TestMain(m *testing.M) {
	if sock := os.Getenv("BANGER_TEST_SERVE_STATUS"); sock != "" {
		l, err := net.Listen("unix", sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ready")
		go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
		_ = http.Serve(l, statusHandler())
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func statusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"pid":%d,"version":"fake"}`, os.Getpid())
	})
}

func TestOwnDaemonAnswers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bangerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: statusHandler()}
	go srv.Serve(l)
	defer srv.Close()
	st, err := New(sock).Status(context.Background())
	if err != nil || st.Version != "fake" {
		t.Fatalf("Status from a daemon of our own uid = %+v, %v", st, err)
	}
}

func TestSocketOfAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to serve a socket as another uid")
	}
	const otherUID = 4242
	// The child runs as otherUID: it needs a copy of this binary it can
	// execute and a directory it can create the socket in.
	dir, err := os.MkdirTemp("", "banger-peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bangerd.sock")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "BANGER_TEST_SERVE_STATUS="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("stand-in daemon did not start: %q, %v", line, err)
	}

	_, err = New(sock).Status(context.Background())
	var fp *ForeignPeerError
	if !errors.As(err, &fp) || fp.PeerUID != otherUID || fp.PeerPID != cmd.Process.Pid {
		t.Fatalf("Status from a socket served by uid %d = %v, want a ForeignPeerError", otherUID, err)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Errorf("a foreign daemon must not look unreachable (the CLI would start its own): %v", err)
	}
	for _, w := range []string{sock, "served by uid 4242", "not by you (uid 0)"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
