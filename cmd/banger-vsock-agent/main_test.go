package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/agent/client"
)

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != version {
		t.Fatalf("--version: code %d, out %q", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"serve"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("stray argument: code %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--listen", "udp:1.2.3.4:5"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "unix:PATH") {
		t.Fatalf("bad --listen: code %d, %q", code, errb.String())
	}
	errb.Reset()
	run([]string{"--help"}, &out, &errb)
	if strings.Contains(errb.String(), "listen") || strings.Contains(errb.String(), "token-file") {
		t.Fatalf("--help shows a hidden flag: %q", errb.String())
	}
}

// TestStaticBinary builds the agent as the image builder does, runs it on a
// unix socket, talks to it with the real client and reports its size and
// memory use.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "banger-vsock-agent")
	build := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version=test-1", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has an ELF interpreter: not static")
		}
	}
	f.Close()
	st, _ := os.Stat(bin)
	t.Logf("static binary (-s -w): %.1f MiB", float64(st.Size())/(1<<20))
	if st.Size() > 20<<20 {
		t.Errorf("binary is %d bytes; something heavy was linked in", st.Size())
	}

	sock := filepath.Join(dir, "a.sock")
	const token = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface"
	tokenFile := filepath.Join(dir, "agent-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--listen", "unix:"+sock, "--token-file", tokenFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	dial := func(ctx context.Context) (net.Conn, error) {
		for {
			conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
			if err == nil || ctx.Err() != nil {
				return conn, err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c := client.New(dial, token)
	h, err := c.Health(context.Background())
	if err != nil || h.Version != "test-1" {
		t.Fatalf("health: %+v, %v\n%s", h, err, stderr.String())
	}
	// Only the token in the file opens the agent.
	if _, err := client.New(dial, token[:len(token)-1]+"0").Health(context.Background()); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	idle := rssKiB(t, cmd.Process.Pid)
	for range 200 {
		if _, err := c.Stats(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	busy := rssKiB(t, cmd.Process.Pid)
	t.Logf("RSS: %d KiB idle after one call, %d KiB after 200 more", idle, busy)
	if idle > 32<<10 {
		t.Errorf("idle RSS %d KiB is far more than expected", idle)
	}

	// systemd stops it with SIGTERM: it must exit cleanly and promptly.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("agent ignored SIGTERM")
	}
}

func rssKiB(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
