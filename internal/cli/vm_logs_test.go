package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/paths"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestVMLogs(t *testing.T) {
	dir := paths.VMDir(t.TempDir())
	vm := api.VM{Name: "web", VMM: "qemu"}
	os.WriteFile(dir.BootLog("console", 1), []byte("first boot\r\n"), 0o600)
	os.WriteFile(dir.BootLog("console", 2), []byte("second boot\r\nevil \x1b]52;c;aGk=\x07 title\r\nno newline"), 0o600)
	os.WriteFile(dir.BootLog("qemu", 2), []byte("qemu: warning\n"), 0o600)

	var out bytes.Buffer
	if err := printVMLogs(context.Background(), &out, dir, vm, vmLogsOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "second boot\nevil \\x1b]52;c;aGk=\\x07 title\nno newline\n"
	if out.String() != want {
		t.Errorf("current boot:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	printVMLogs(context.Background(), &out, dir, vm, vmLogsOptions{boot: 1})
	if out.String() != "first boot\n" {
		t.Errorf("--boot 1: %q", out.String())
	}
	out.Reset()
	printVMLogs(context.Background(), &out, dir, vm, vmLogsOptions{vmm: true})
	if out.String() != "qemu: warning\n" {
		t.Errorf("--vmm: %q", out.String())
	}
	err := printVMLogs(context.Background(), &out, dir, vm, vmLogsOptions{boot: 7})
	if err == nil || !strings.Contains(err.Error(), "no boot 7") || !strings.Contains(err.Error(), "1, 2") {
		t.Errorf("--boot 7: %v", err)
	}
	if err := printVMLogs(context.Background(), &out, paths.VMDir(t.TempDir()), vm, vmLogsOptions{}); err == nil || !strings.Contains(err.Error(), "no boot logs") {
		t.Errorf("vm without logs: %v", err)
	}
}

func TestVMLogsFollowIntoNextBoot(t *testing.T) {
	dir := paths.VMDir(t.TempDir())
	vm := api.VM{Name: "web", VMM: "qemu"}
	os.WriteFile(dir.BootLog("console", 1), []byte("booting\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- printVMLogs(ctx, &out, dir, vm, vmLogsOptions{follow: true}) }()
	waitFor(t, "the first line", func() bool { return out.String() == "booting\n" })

	f, _ := os.OpenFile(dir.BootLog("console", 1), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("login: ")
	f.WriteString("\n")
	f.Close()
	waitFor(t, "the appended line", func() bool { return strings.HasSuffix(out.String(), "login: \n") })

	os.WriteFile(dir.BootLog("console", 2), []byte("rebooted\n"), 0o600)
	waitFor(t, "the next boot", func() bool { return strings.HasSuffix(out.String(), "--- boot 2 ---\nrebooted\n") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
}
