package execx

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func waitDone(t *testing.T, c *Child) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		t.Fatal("child did not exit")
	}
}

func TestDetachedAppendsOutputAndReportsExit(t *testing.T) {
	log := filepath.Join(t.TempDir(), "out.log")
	if err := os.WriteFile(log, []byte("earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Detached{Argv: []string{"sh", "-c", "echo out; echo err >&2; read x; echo read=$x; exit 3"}, LogPath: log}.Start()
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	var xe *Error
	if !errors.As(c.Err(), &xe) || xe.ExitCode != 3 {
		t.Fatalf("exit error %v", c.Err())
	}
	b, _ := os.ReadFile(log)
	// Appended, both streams, and stdin is /dev/null (read gets EOF).
	if got := string(b); got != "earlier run\nout\nerr\nread=\n" {
		t.Fatalf("log %q", got)
	}
}

func TestDetachedRunsInItsOwnSession(t *testing.T) {
	c, err := Detached{Argv: []string{"sleep", "30"}, LogPath: filepath.Join(t.TempDir(), "log")}.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.PID) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	// fields[3] is the session id (field 6 of /proc/<pid>/stat).
	if fields[3] != strconv.Itoa(c.PID) {
		t.Fatalf("session %s, want the child's own (%d)", fields[3], c.PID)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if err := c.Kill(); err != nil {
		t.Fatalf("kill after exit: %v", err)
	}
}

func TestDetachedMissingBinary(t *testing.T) {
	_, err := Detached{Argv: []string{"/nonexistent/vmm"}, LogPath: filepath.Join(t.TempDir(), "log")}.Start()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/vmm") {
		t.Fatalf("got %v", err)
	}
}

func TestDetachedOutputAndExtraFiles(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Detached{Argv: []string{"sh", "-c", "echo to-output; echo to-fd3 >&3"}, Output: out, ExtraFiles: []*os.File{w}}.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	got, _ := io.ReadAll(r)
	if string(got) != "to-fd3\n" {
		t.Fatalf("fd 3 got %q", got)
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != "to-output\n" {
		t.Fatalf("output got %q", b)
	}
}
