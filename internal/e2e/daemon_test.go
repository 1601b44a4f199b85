package e2e

import (
	"banger/internal/testenv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type status struct {
	PID       int    `json:"pid"`
	Socket    string `json:"socket"`
	LogPath   string `json:"log_path"`
	DNSListen string `json:"dns_listen"`
	Version   string `json:"version"`
}

func statusJSON(t *testing.T, e *env) status {
	t.Helper()
	r := e.must("daemon", "status", "--json")
	var st status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, r)
	}
	return st
}

func TestDaemonAutostartStatusAndStop(t *testing.T) {
	e := newEnv(t)
	st := statusJSON(t, e)
	if st.PID <= 0 || !alive(st.PID) {
		t.Fatalf("daemon pid %d not alive", st.PID)
	}
	if st.Socket != e.socket() {
		t.Errorf("socket %q, want %q", st.Socket, e.socket())
	}
	if st.LogPath != filepath.Join(e.stateDir(), "bangerd.log") {
		t.Errorf("log path %q", st.LogPath)
	}
	if !strings.HasPrefix(st.DNSListen, "127.0.0.1:") {
		t.Errorf("dns listen %q", st.DNSListen)
	}
	// The daemon survives the CLI that started it and is reused.
	if again := statusJSON(t, e); again.PID != st.PID {
		t.Fatalf("second status started another daemon: %d vs %d", again.PID, st.PID)
	}
	human := e.must("daemon", "status")
	contains(t, human, "pid:", e.socket(), "bangerd.log", "dns:", "uptime:", "version:")
	sock := e.must("daemon", "socket")
	if strings.TrimSpace(sock.stdout) != e.socket() {
		t.Errorf("daemon socket printed %q", sock.stdout)
	}
	r := e.must("daemon", "stop")
	contains(t, r, "stopped")
	waitGone(t, st.PID)
	if _, err := os.Stat(e.socket()); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
	contains(t, e.must("daemon", "stop"), "not running")
}

func TestSocketAndDirectoryPermissions(t *testing.T) {
	e := newEnv(t)
	statusJSON(t, e)
	dir, err := os.Stat(filepath.Dir(e.socket()))
	if err != nil {
		t.Fatal(err)
	}
	if dir.Mode().Perm() != 0o700 {
		t.Errorf("runtime dir mode %o, want 700", dir.Mode().Perm())
	}
	sock, err := os.Stat(e.socket())
	if err != nil {
		t.Fatal(err)
	}
	if sock.Mode()&os.ModeSocket == 0 || sock.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", sock.Mode())
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	e := newEnv(t)
	st := statusJSON(t, e)
	before, _ := os.Stat(e.socket())
	r := e.runIn(nil, "bangerd")
	if r.code == 0 {
		t.Fatalf("second bangerd succeeded:\n%s", r)
	}
	contains(t, r, "already running", e.socket())
	after, err := os.Stat(e.socket())
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("second daemon touched the first one's socket: %v", err)
	}
	if again := statusJSON(t, e); again.PID != st.PID {
		t.Fatalf("first daemon replaced")
	}
}

func TestKill9RecoversWithStaleSocket(t *testing.T) {
	e := newEnv(t)
	st := statusJSON(t, e)
	syscall.Kill(st.PID, syscall.SIGKILL)
	waitGone(t, st.PID)
	if _, err := os.Stat(e.socket()); err != nil {
		t.Fatalf("expected a stale socket file after kill -9: %v", err)
	}
	r := e.must("vm", "list")
	contains(t, r, "no VMs")
	st2 := statusJSON(t, e)
	if st2.PID == st.PID || !alive(st2.PID) {
		t.Fatalf("no new daemon after kill -9 (old %d, new %d)", st.PID, st2.PID)
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	e := newEnv(t)
	st := statusJSON(t, e)
	syscall.Kill(st.PID, syscall.SIGTERM)
	waitGone(t, st.PID)
	if _, err := os.Stat(e.socket()); !os.IsNotExist(err) {
		t.Errorf("socket left after SIGTERM")
	}
	log, _ := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
	if !strings.Contains(string(log), "bangerd stopped") {
		t.Errorf("log lacks the stop record:\n%s", log)
	}
}

func TestStructuredLogAndLevel(t *testing.T) {
	e := newEnv(t)
	e.extra = append(e.extra, "BANGER_LOG_LEVEL=debug")
	statusJSON(t, e)
	e.must("vm", "list")
	b, err := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	sawDebug := false
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["level"] == "DEBUG" {
			sawDebug = true
		}
	}
	if !sawDebug {
		t.Errorf("log_level=debug wrote no debug records:\n%s", b)
	}
}

func TestBadConfigIsReportedAndStartsNothing(t *testing.T) {
	cases := []struct {
		name, config string
		env          []string
		want         []string
	}{
		{"malformed", "log_level = \n", nil, []string{"parse config"}},
		{"unknown key", "colour = \"red\"\n", nil, []string{"unknown key colour"}},
		{"removed ssh_key_path", "ssh_key_path = \"/x\"\n", nil, []string{"ssh_key_path", "no longer supported"}},
		{"bad value", "tap_pool_size = -3\n", nil, []string{"tap_pool_size", "-3", "0 and 64"}},
		{"loud log level", "", []string{"BANGER_LOG_LEVEL=loud"}, []string{"log_level", "loud", "debug, info, warn, error"}},
		{"bad vmm", "vmm = \"xen\"\n", nil, []string{"vmm", "xen"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.config != "" {
				e.writeConfig(tc.config)
			}
			e.extra = append(e.extra, tc.env...)
			r := e.run("daemon", "status")
			if r.code != 1 {
				t.Fatalf("want exit 1:\n%s", r)
			}
			contains(t, r, tc.want...)
			if _, err := os.Stat(e.socket()); !os.IsNotExist(err) {
				t.Errorf("a daemon started despite the bad config")
			}
			// bangerd itself refuses too.
			rd := e.runIn(nil, "bangerd")
			if rd.code != 1 {
				t.Fatalf("bangerd accepted the bad config:\n%s", rd)
			}
			contains(t, rd, tc.want[0])
		})
	}
}

func TestUnreadableConfig(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.configFile(), 0o755) // a directory cannot be read as a file
	r := e.run("vm", "list")
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	contains(t, r, "read config")
}

func TestSocketPathTooLong(t *testing.T) {
	e := newEnv(t)
	long := filepath.Join(e.home, strings.Repeat("x", 120))
	os.MkdirAll(long, 0o700)
	e.extra = append(e.extra, "XDG_RUNTIME_DIR="+long)
	r := e.run("daemon", "status")
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	contains(t, r, "longer than the unix limit")
}

func TestUsageErrorsExit2(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"vm", "show"},
		{"vm", "create", "--bogus"},
		{"vm", "create", "--disk-size", "16X"},
		{"vm", "create", "--disk-size", "-1G"},
		{"vm", "create", "--memory", "lots"},
		{"vm", "set", "calm-otter"},
		{"vm", "set", "calm-otter", "--nat", "--no-nat"},
		{"frobnicate"},
	} {
		r := e.run(args...)
		if r.code != 2 {
			t.Errorf("banger %s: want exit 2, got:\n%s", strings.Join(args, " "), r)
		}
	}
}

func TestRefsAndNames(t *testing.T) {
	e := newEnv(t)
	r := e.run("vm", "show", "nope")
	if r.code != 1 {
		t.Fatalf("unknown ref: want exit 1:\n%s", r)
	}
	contains(t, r, `"nope"`, "not found")
	r = e.run("vm", "create", "--name", "Bad_Name")
	if r.code != 1 {
		t.Fatalf("bad name: want exit 1:\n%s", r)
	}
	contains(t, r, "Bad_Name", "a-z")
	r = e.run("vm", "stop", "ghost-1", "ghost-2")
	if r.code != 1 {
		t.Fatalf("multi-ref failure: want exit 1:\n%s", r)
	}
	contains(t, r, "ghost-1: error", "ghost-2: error", "2 of 2 failed")
}

func TestCompletionAndHelp(t *testing.T) {
	e := newEnv(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := e.must("completion", sh)
		if !strings.Contains(r.stdout, "banger") {
			t.Errorf("%s completion lacks banger", sh)
		}
	}
	r := e.must("--help")
	contains(t, r, "vm", "daemon", "doctor", "image")
}

func TestDoctorJSON(t *testing.T) {
	e := newEnv(t)
	r := e.run("doctor", "--json")
	var results []struct {
		Name, Status, Message string
	}
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	byName := map[string]string{}
	for _, res := range results {
		byName[res.Name] = res.Status
	}
	// The env points BANGER_RUNTIME_DIR at a missing bundle: doctor must
	// fail and say so.
	if byName["runtime bundle"] != "fail" || r.code != 1 {
		t.Errorf("missing bundle not reported as failure (exit %d): %v", r.code, byName)
	}
	for _, name := range []string{"config", "/dev/kvm", "/dev/net/tun", "tool mkfs.ext4", "dns listen address", "privileged helper", "runtime dir"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("doctor lacks check %q", name)
		}
	}
}

func TestDaemonStartFailureShowsLogTail(t *testing.T) {
	e := newEnv(t)
	fake := filepath.Join(e.home, "broken-bangerd")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'bangerd: cannot open state db: disk on fire' >&2\nexit 1\n"), 0o755)
	e.extra = append(e.extra, "BANGER_DAEMON_BIN="+fake)
	r := e.run("vm", "list")
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	contains(t, r, "bangerd exited during startup", "disk on fire", "bangerd.log")
}

func TestImageRegisterShowDelete(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.ext4")
	out, err := exec.Command("mkfs.ext4", "-q", "-F", rootfs, "16M").CombinedOutput()
	testenv.RequireOrSkip(t, fmt.Sprintf("a working mkfs.ext4 (%v: %s)", err, out), err == nil)
	kernel := filepath.Join(dir, "vmlinux")
	os.WriteFile(kernel, []byte("k"), 0o644)
	// An empty file system has no init to detect: refused, naming the way out.
	r := e.run("image", "register", "--name", "local-test", "--rootfs", rootfs)
	if r.code != 1 {
		t.Fatalf("register of a rootfs without /sbin/init: %s", r)
	}
	contains(t, r, rootfs, "has no /sbin/init", "systemd or runit")
	if r := e.run("image", "register", "--name", "local-test", "--rootfs", rootfs, "--init", "openrc"); r.code != 2 {
		t.Fatalf("register --init openrc: want a usage error: %s", r)
	} else {
		contains(t, r, `"openrc" is not supported`)
	}
	e.must("image", "register", "--name", "local-test", "--rootfs", rootfs, "--init", "runit")
	// Registering again updates in place.
	e.must("image", "register", "--name", "local-test", "--rootfs", rootfs, "--kernel", kernel, "--init", "systemd")
	show := e.must("image", "show", "--json", "local-test")
	var im struct{ Name, Rootfs, Kernel, Init string }
	if err := json.Unmarshal([]byte(show.stdout), &im); err != nil || im.Rootfs != rootfs || im.Kernel != kernel || im.Init != "systemd" {
		t.Fatalf("image show: %v %s", err, show.stdout)
	}
	contains(t, e.must("image", "show", "local-test"), "init:", "systemd")
	contains(t, e.must("image", "list"), "local-test", "INIT")
	bad := e.run("image", "register", "--name", "broken", "--rootfs", "/etc/hostname")
	if bad.code != 1 {
		t.Fatalf("non-ext4 rootfs accepted: %s", bad)
	}
	contains(t, bad, "/etc/hostname", "not an ext4 image")
	contains(t, e.must("image", "delete", "local-test"), "local-test: deleted")
	if r := e.run("image", "show", "local-test"); r.code != 1 {
		t.Fatalf("deleted image still shown: %s", r)
	}
}

// TestDaemonRefusesHostNamespaceUnderTest checks the interlock every test
// daemon runs with: BANGER_REQUIRE_NETNS=1 in the host's namespace makes
// bangerd exit before it opens its state or touches any link.
func TestDaemonRefusesHostNamespaceUnderTest(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(filepath.Join(binDir, "bangerd"))
	cmd.Env = append(e.environ(), "BANGER_REQUIRE_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to start") {
		t.Fatalf("bangerd in the host namespace with BANGER_REQUIRE_NETNS=1: err=%v\n%s", err, out)
	}
	if _, err := os.Stat(e.stateDir()); !os.IsNotExist(err) {
		t.Errorf("the refused daemon created its state dir: %v", err)
	}
}

// TestDNSAddressTakenIsReportedLoudly: a second installation whose
// dns_listen is held by the first still starts, and says so in `daemon
// status` and `doctor`, not only in its log.
func TestDNSAddressTakenIsReportedLoudly(t *testing.T) {
	first := newEnv(t)
	first.extra = append(first.extra, "BANGER_DNS_LISTEN=127.0.0.1:42069")
	first.must("daemon", "status")
	second := newEnv(t)
	second.netns = first.netns
	second.extra = append(second.extra, "BANGER_DNS_LISTEN=127.0.0.1:42069")
	r := second.must("daemon", "status")
	contains(t, r, "warning: bangerd is not serving .vm names on 127.0.0.1:42069", "set dns_listen")
	var results []struct{ Name, Status, Message string }
	d := second.run("doctor", "--json")
	if err := json.Unmarshal([]byte(d.stdout), &results); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, d)
	}
	found := false
	for _, res := range results {
		if res.Name == "dns listen address" {
			found = true
			if res.Status != "fail" || !strings.Contains(res.Message, "not serving .vm names") {
				t.Errorf("doctor's dns check: %+v", res)
			}
		}
	}
	if !found {
		t.Errorf("doctor has no dns listen check:\n%s", d)
	}
}
