package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// With BANGER_TEST_SERVE_STATUS=<socket> the test binary stands in for a
// bangerd of another user: it answers /v1/status on the socket, prints
// "ready" once it listens and exits when its stdin closes.
func TestMain(m *testing.M) {
	if rootPhaseTestMain() {
		return
	}
	if sock := os.Getenv("BANGER_TEST_SERVE_STATUS"); sock != "" {
		l, err := net.Listen("unix", sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Chmod(sock, 0o777)
		fmt.Println("ready")
		go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"pid":1,"version":"squatter"}`)
		}))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// isolatedEnv points every banger path at a fresh directory and makes sure
// no real bangerd can be started (BANGER_DAEMON_BIN fails at once).
func isolatedEnv(t *testing.T) (root string) {
	t.Helper()
	root = t.TempDir()
	t.Setenv("HOME", filepath.Join(root, "home"))
	for _, v := range []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"} {
		t.Setenv(v, "")
	}
	t.Setenv("BANGER_DAEMON_BIN", filepath.Join(root, "no-such-bangerd"))
	return root
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestCLIRefusesSquattedRuntimeDir(t *testing.T) {
	root := isolatedEnv(t)
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	squatted := filepath.Join(tmp, "banger-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(squatted, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(squatted, 0o777); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("vm", "list")
	if code == ExitOK || !strings.Contains(stderr, "runtime directory "+squatted+" has mode 0777") || !strings.Contains(stderr, "hint:") || !strings.Contains(stderr, "XDG_RUNTIME_DIR") {
		t.Errorf("vm list with a squatted runtime dir: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "no-such-bangerd") {
		t.Errorf("the CLI tried to start a daemon:\n%s", stderr)
	}
	if st, _ := os.Stat(squatted); st.Mode().Perm() != 0o777 {
		t.Errorf("the CLI changed %s to %v", squatted, st.Mode())
	}
}

func TestCLIRefusesSocketOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to serve a socket as another uid")
	}
	isolatedEnv(t)
	// The child runs as uid 4242: it needs a directory it can reach (not
	// under t.TempDir's 0700 parent) for its binary and the socket.
	root, err := os.MkdirTemp("", "banger-cli-peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	// XDG_RUNTIME_DIR/banger/bangerd.sock, created by uid 4242.
	rt := filepath.Join(root, "run")
	if err := os.MkdirAll(filepath.Join(rt, "banger"), 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, rt, filepath.Join(rt, "banger")} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("XDG_RUNTIME_DIR", rt)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(root, "cli.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(rt, "banger", "bangerd.sock")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "BANGER_TEST_SERVE_STATUS="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 4242}}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("stand-in daemon did not start: %q, %v", line, err)
	}
	code, stdoutText, stderr := runCLI("daemon", "status")
	if code == ExitOK || !strings.Contains(stderr, "is served by uid 4242") || strings.Contains(stdoutText, "squatter") {
		t.Errorf("daemon status against another user's socket: exit %d, stdout %q, stderr:\n%s", code, stdoutText, stderr)
	}
	if strings.Contains(stderr, "no-such-bangerd") {
		t.Errorf("the CLI tried to start its own daemon:\n%s", stderr)
	}
}
