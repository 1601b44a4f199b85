// Package e2e runs the real banger and bangerd binaries against a real
// daemon in a temporary XDG tree. VM tests (vm_test.go) additionally need
// root, qemu and a runtime bundle (BANGER_TEST_BUNDLE).
//
// Every env run as root lives in a network namespace of its own: a bangerd
// reconciles networking when it starts, and one started in the host's
// namespace could touch a developer's own VMs. The daemons are started with
// BANGER_REQUIRE_NETNS=1, so one that ends up in the host's namespace
// anyway refuses to start instead.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "banger-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	root := repoRoot()
	for _, b := range []struct{ out, pkg string }{{"banger", "./cmd/banger"}, {"bangerd", "./cmd/bangerd"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// env is one user's banger installation: HOME, XDG dirs and environment.
type env struct {
	t     *testing.T
	home  string
	extra []string
	netns string // run commands inside this network namespace when set
}

func newEnv(t *testing.T) *env {
	t.Helper()
	home, err := os.MkdirTemp("", "bgr-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, home: home}
	os.MkdirAll(e.runtimeDir(), 0o700)
	if os.Geteuid() == 0 {
		e.netns = newNetns(t)
	}
	t.Cleanup(func() {
		e.stopDaemon()
		os.RemoveAll(home)
	})
	return e
}

// newNetns creates a network namespace with its loopback up and deletes it
// when the test ends (after the env's own cleanups, which were registered
// later and so run first).
func newNetns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := "banger-e2e-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("loopback up in %s: %v: %s", ns, err, out)
	}
	return ns
}

// command is path run with args in the env: its environment, and its
// network namespace when it has one. Every process a test starts goes
// through here.
func (e *env) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	argv := append([]string{path}, args...)
	if e.netns != "" {
		argv = append([]string{"ip", "netns", "exec", e.netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = e.environ()
	return cmd
}

func (e *env) runtimeDir() string { return filepath.Join(e.home, "run") }
func (e *env) socket() string     { return filepath.Join(e.runtimeDir(), "banger", "bangerd.sock") }
func (e *env) stateDir() string   { return filepath.Join(e.home, ".local", "state", "banger") }
func (e *env) configFile() string { return filepath.Join(e.home, ".config", "banger", "config.toml") }

func (e *env) writeConfig(body string) {
	e.t.Helper()
	os.MkdirAll(filepath.Dir(e.configFile()), 0o755)
	if err := os.WriteFile(e.configFile(), []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) environ() []string {
	env := []string{
		"HOME=" + e.home,
		"XDG_RUNTIME_DIR=" + e.runtimeDir(),
		"PATH=" + os.Getenv("PATH"),
		"BANGER_DNS_LISTEN=127.0.0.1:0",
		"BANGER_RUNTIME_DIR=" + filepath.Join(e.home, "no-bundle"),
		"BANGER_DAEMON_BIN=" + filepath.Join(binDir, "bangerd"),
	}
	if e.netns != "" {
		env = append(env, "BANGER_REQUIRE_NETNS=1")
	}
	return append(env, e.extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the banger CLI.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runIn(nil, "banger", args...)
}

func (e *env) runIn(stdin []byte, bin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := e.command(ctx, filepath.Join(binDir, bin), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// must runs a command that has to succeed.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("banger %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

func (e *env) daemonPID() int {
	b, err := os.ReadFile(filepath.Join(e.runtimeDir(), "banger", "bangerd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopDaemon stops the env's daemon however it can.
func (e *env) stopDaemon() {
	pid := e.daemonPID()
	e.runIn(nil, "banger", "daemon", "stop")
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(t *testing.T, r result, parts ...string) {
	t.Helper()
	all := r.stdout + r.stderr
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("output does not contain %q:\n%s", p, r)
		}
	}
}
