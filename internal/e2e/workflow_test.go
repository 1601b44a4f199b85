package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// execIn runs any program in the env (its environment and namespace).
func (e *env) execIn(t *testing.T, stdin []byte, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := e.command(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// TestWorkflowOnQemu: the everyday tools around one VM — OpenSSH config
// and its Include, file copy, console logs and name completion — share a
// single VM to keep the test short.
func TestWorkflowOnQemu(t *testing.T) {
	e := newVMEnv(t)
	// The event stream runs from before the create to after the stop.
	evCtx, evCancel := context.WithCancel(context.Background())
	events := e.command(evCtx, filepath.Join(binDir, "banger"), "events", "--json")
	var evOut lockedBuffer
	events.Stdout, events.Stderr = &evOut, &evOut
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { evCancel(); events.Wait() }()
	if !eventually(30*time.Second, func() bool { return e.daemonPID() != 0 && e.run("daemon", "status").code == 0 }) {
		t.Fatalf("no daemon after banger events: %s", evOut.String())
	}
	e.must("vm", "create", "--name", "e2e-a", "--memory", "768")
	v := e.vm(t, "e2e-a")
	cfg := filepath.Join(e.stateDir(), "ssh", "config")

	t.Run("ssh-config", func(t *testing.T) {
		r := e.must("ssh-config", "e2e-a")
		contains(t, r, "Host e2e-a e2e-a.vm", "HostName "+v.IP, "HostKeyAlias banger-"+v.ID, "StrictHostKeyChecking yes")
		if all := e.must("ssh-config"); !strings.Contains(all.stdout, "Host e2e-a ") {
			t.Errorf("ssh-config without a ref: %s", all)
		}
		if r := e.run("ssh-config", "no-such-vm"); r.code == 0 || !strings.Contains(r.stderr, "no-such-vm") {
			t.Errorf("ssh-config of a missing vm: %s", r)
		}
		for _, host := range []string{"e2e-a", "e2e-a.vm"} {
			if r := e.execIn(t, nil, "ssh", "-F", cfg, "-o", "BatchMode=yes", host, "hostname"); r.code != 0 || strings.TrimSpace(r.stdout) != "e2e-a" {
				t.Errorf("ssh -F %s %s: %s", cfg, host, r)
			}
		}
		local := filepath.Join(e.home, "scp-in.txt")
		os.WriteFile(local, []byte("over scp\n"), 0o644)
		if r := e.execIn(t, nil, "scp", "-F", cfg, "-o", "BatchMode=yes", local, "e2e-a:/root/scp.txt"); r.code != 0 {
			t.Fatalf("scp to the vm: %s", r)
		}
		back := filepath.Join(e.home, "scp-out.txt")
		if r := e.execIn(t, nil, "scp", "-F", cfg, "-o", "BatchMode=yes", "e2e-a:/root/scp.txt", back); r.code != 0 {
			t.Fatalf("scp from the vm: %s", r)
		}
		if b, _ := os.ReadFile(back); string(b) != "over scp\n" {
			t.Errorf("scp round trip: %q", b)
		}
		// Host keys are checked: the same config with an empty known_hosts
		// refuses to connect rather than trusting the key on first use.
		body, _ := os.ReadFile(cfg)
		empty := filepath.Join(e.home, "empty_known_hosts")
		os.WriteFile(empty, nil, 0o600)
		strict := filepath.Join(e.home, "strict-config")
		os.WriteFile(strict, bytes.ReplaceAll(body, []byte(filepath.Join(e.stateDir(), "ssh", "known_hosts")), []byte(empty)), 0o600)
		if r := e.execIn(t, nil, "ssh", "-F", strict, "-o", "BatchMode=yes", "e2e-a", "true"); r.code == 0 {
			t.Errorf("ssh connected with no known host key: %s", r)
		}
	})

	t.Run("ssh-config --install", func(t *testing.T) {
		user := filepath.Join(e.home, ".ssh", "config")
		os.MkdirAll(filepath.Dir(user), 0o700)
		os.WriteFile(user, []byte("Host elsewhere\n  User nobody\n"), 0o644)
		e.must("ssh-config", "--install")
		e.must("ssh-config", "--install")
		b, _ := os.ReadFile(user)
		if n := strings.Count(string(b), "Include "+cfg); n != 1 || strings.Index(string(b), "Include ") > strings.Index(string(b), "Host elsewhere") {
			t.Fatalf("after two installs, ~/.ssh/config:\n%s", b)
		}
		if bak, _ := os.ReadFile(user + ".banger-backup"); string(bak) != "Host elsewhere\n  User nobody\n" {
			t.Errorf("backup: %q", bak)
		}
		// The user's own config now reaches the VM by name.
		if r := e.execIn(t, nil, "ssh", "-F", user, "-o", "BatchMode=yes", "e2e-a", "true"); r.code != 0 {
			t.Errorf("ssh through the Include: %s", r)
		}
		e.must("ssh-config", "--uninstall")
		if b, _ := os.ReadFile(user); strings.Contains(string(b), "Include") || !strings.Contains(string(b), "Host elsewhere") {
			t.Errorf("after uninstall:\n%s", b)
		}
	})

	t.Run("vm cp", func(t *testing.T) {
		src := filepath.Join(e.home, "cp-src")
		big := make([]byte, 20<<20)
		rand.Read(big)
		os.MkdirAll(filepath.Join(src, "tree", "sub", "deeper"), 0o750)
		os.WriteFile(filepath.Join(src, "big.bin"), big, 0o640)
		os.WriteFile(filepath.Join(src, "tree", "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
		os.WriteFile(filepath.Join(src, "tree", "sub", "secret"), []byte("s3cret"), 0o600)
		os.WriteFile(filepath.Join(src, "tree", "sub", "deeper", "note"), []byte("note"), 0o644)
		os.Symlink("sub/secret", filepath.Join(src, "tree", "link"))

		e.must("vm", "cp", filepath.Join(src, "big.bin"), "e2e-a:/root/big.bin")
		e.must("vm", "cp", "-r", filepath.Join(src, "tree"), "e2e-a:/root/")
		if r := e.ssh(t, "e2e-a", "sha256sum /root/big.bin; stat -c '%a %n' /root/big.bin /root/tree/run.sh /root/tree/sub /root/tree/sub/secret; readlink /root/tree/link"); r.code != 0 ||
			!strings.Contains(r.stdout, sha256hex(big)) || !strings.Contains(r.stdout, "640 /root/big.bin") ||
			!strings.Contains(r.stdout, "755 /root/tree/run.sh") || !strings.Contains(r.stdout, "750 /root/tree/sub\n") ||
			!strings.Contains(r.stdout, "600 /root/tree/sub/secret") || !strings.Contains(r.stdout, "sub/secret") {
			t.Errorf("in the guest after upload:\n%s", r)
		}

		back := filepath.Join(e.home, "cp-back")
		os.Mkdir(back, 0o755)
		e.must("vm", "cp", "e2e-a:/root/big.bin", filepath.Join(back, "big.copy"))
		e.must("vm", "cp", "-r", "e2e-a:/root/tree", back)
		if b, _ := os.ReadFile(filepath.Join(back, "big.copy")); sha256hex(b) != sha256hex(big) {
			t.Errorf("20 MB file changed on the round trip")
		}
		if st, err := os.Stat(filepath.Join(back, "big.copy")); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("mode of the round-tripped file: %v", err)
		}
		if a, b := treeSummary(t, filepath.Join(src, "tree")), treeSummary(t, filepath.Join(back, "tree")); a != b {
			t.Errorf("directory tree changed on the round trip:\nsent:\n%s\ngot back:\n%s", a, b)
		}

		// stdin in, stdout out.
		if r := e.runIn([]byte("from stdin\n"), "banger", "vm", "cp", "-", "e2e-a:/root/x"); r.code != 0 {
			t.Fatalf("vm cp - VM:/root/x: %s", r)
		}
		if r := e.must("vm", "cp", "e2e-a:/root/x", "-"); r.stdout != "from stdin\n" {
			t.Errorf("vm cp VM:/root/x -: %q", r.stdout)
		}

		// Bad input: a clear error, a non-zero exit, nothing written.
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"vm", "cp", filepath.Join(src, "big.bin"), filepath.Join(back, "nope")}, 2, "no VM path"},
			{[]string{"vm", "cp", "e2e-a:/root/x", "e2e-a:/root/y"}, 2, "both sides"},
			{[]string{"vm", "cp", "e2e-a:/root/missing", back}, 1, "does not exist"},
			{[]string{"vm", "cp", filepath.Join(src, "missing"), "e2e-a:/root/"}, 1, "missing"},
			{[]string{"vm", "cp", filepath.Join(src, "tree"), "e2e-a:/root/"}, 1, "-r"},
			{[]string{"vm", "cp", "no-such-vm:/x", back}, 1, "no-such-vm"},
		} {
			if r := e.run(c.args...); r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v: want exit %d and %q, got %s", c.args[2:], c.code, c.want, r)
			}
		}
		if _, err := os.Stat(filepath.Join(back, "nope")); err == nil {
			t.Errorf("a refused copy wrote a file")
		}
	})

	t.Run("vm logs", func(t *testing.T) {
		r := e.must("vm", "logs", "e2e-a")
		if !strings.Contains(r.stdout, "Linux version") && !strings.Contains(r.stdout, "login:") {
			t.Errorf("vm logs does not show the boot:\n%s", r.stdout)
		}
		if strings.ContainsAny(r.stdout, "\x1b\r") {
			t.Errorf("vm logs printed raw control characters")
		}
		if r := e.run("vm", "logs", "--boot", "9", "e2e-a"); r.code == 0 || !strings.Contains(r.stderr, "boots with logs: 1") {
			t.Errorf("vm logs --boot 9: %s", r)
		}
	})

	const fwdURL = "http://127.0.0.1:18080/x"
	serve := func(t *testing.T) {
		t.Helper()
		if r := e.ssh(t, "e2e-a", "cd /root; setsid python3 -m http.server 8000 </dev/null >/dev/null 2>&1 &"); r.code != 0 {
			t.Fatalf("start http.server in the guest: %s", r)
		}
	}
	fetch := func() result { return e.execIn(t, nil, "curl", "-sS", "--max-time", "5", fwdURL) }
	served := func() bool { r := fetch(); return r.code == 0 && r.stdout == "from stdin\n" }

	t.Run("vm forward", func(t *testing.T) {
		serve(t)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"vm", "forward", "e2e-a", "70000"}, "1-65535"},
			{[]string{"vm", "forward", "e2e-a", "0.0.0.0:18080:8000"}, "--any-address"},
			{[]string{"vm", "forward", "no-such-vm", "18080:8000"}, "no-such-vm"},
		} {
			if r := e.run(c.args...); r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v: want an error with %q, got %s", c.args[1:], c.want, r)
			}
		}
		r := e.must("vm", "forward", "e2e-a", "18080:8000")
		contains(t, r, "127.0.0.1:18080", "listening")
		if !eventually(60*time.Second, served) {
			t.Fatalf("forward does not serve the guest's http.server: %s", fetch())
		}
		contains(t, e.must("vm", "show", "e2e-a"), "forward:", "127.0.0.1:18080 -> guest port 8000")
		if r := e.run("vm", "forward", "e2e-a", "18080:9000"); r.code == 0 {
			t.Errorf("a second forward on a used host port: %s", r)
		}

		// bangerd dies hard; the next one listens again.
		pid := e.daemonPID()
		exec.Command("kill", "-9", itoa(pid)).Run()
		waitGone(t, pid)
		e.must("vm", "forward", "e2e-a")
		if !eventually(30*time.Second, served) {
			t.Errorf("forward not re-established after kill -9 of bangerd: %s", fetch())
		}
	})

	t.Run("events", func(t *testing.T) {
		// The first stream saw the create (it ended when bangerd was
		// killed above); a second one, known to be subscribed once it
		// reports a forward change, sees the stop.
		if !eventually(10*time.Second, func() bool { return hasEvent(evOut.String(), "created", "e2e-a") }) {
			t.Errorf("banger events --json missed the create:\n%s", evOut.String())
		}
		ctx, cancel := context.WithCancel(context.Background())
		second := e.command(ctx, filepath.Join(binDir, "banger"), "events", "--json")
		var out lockedBuffer
		second.Stdout, second.Stderr = &out, &out
		if err := second.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); second.Wait() }()
		var add, remove result
		if !eventually(30*time.Second, func() bool {
			add = e.run("vm", "forward", "e2e-a", "18081:8000")
			remove = e.run("vm", "forward", "e2e-a", "--remove", "18081")
			return hasEvent(out.String(), "forward", "e2e-a")
		}) {
			log, _ := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
			t.Fatalf("second event stream never reported a forward change:\n%s\nlast add: %s\nlast remove: %s\nbangerd.log:\n%s",
				out.String(), add, remove, tail(string(log), 30))
		}
		e.must("vm", "stop", "e2e-a")
		if !eventually(30*time.Second, func() bool { return hasEvent(out.String(), "stopped", "e2e-a") }) {
			t.Errorf("banger events --json missed the stop:\n%s", out.String())
		}
		// A stopped VM is a clear error for vm cp.
		if r := e.run("vm", "cp", "e2e-a:/root/x", "-"); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
			t.Errorf("vm cp from a stopped vm: %s", r)
		}
	})

	t.Run("vm forward across stop and start", func(t *testing.T) {
		if served() {
			t.Errorf("forward serves with the vm stopped")
		}
		e.must("vm", "start", "e2e-a")
		serve(t)
		if !eventually(60*time.Second, served) {
			t.Errorf("forward not back after start: %s", fetch())
		}
	})

	t.Run("vm forward --auto", func(t *testing.T) {
		e.must("vm", "forward", "e2e-a", "--auto")
		// A listener started after --auto is picked up.
		if r := e.ssh(t, "e2e-a", "cd /root; setsid python3 -m http.server 18500 </dev/null >/dev/null 2>&1 &"); r.code != 0 {
			t.Fatalf("start a second http.server: %s", r)
		}
		auto := func() bool {
			r := e.execIn(t, nil, "curl", "-sS", "--max-time", "5", "http://127.0.0.1:18500/x")
			return r.code == 0 && r.stdout == "from stdin\n"
		}
		if !eventually(60*time.Second, auto) {
			t.Errorf("--auto did not forward the new listener: %s", e.must("vm", "forward", "e2e-a"))
		}
		contains(t, e.must("vm", "forward", "e2e-a"), "18500", "(auto)")
		e.must("vm", "forward", "e2e-a", "--auto", "--remove")
		if auto() {
			t.Errorf("auto forward still serves after --auto --remove")
		}
	})

	t.Run("complete", func(t *testing.T) {
		r := e.must("__complete", "vm", "ssh", "")
		if !strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("__complete vm ssh: %s", r)
		}
		if r := e.must("__complete", "vm", "ssh", "e2e-a", ""); strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("vm ssh completed a second ref: %s", r)
		}
		if r := e.must("__complete", "vm", "stop", "e2e-a", ""); strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("vm stop offered a ref already given: %s", r)
		}
		if r := e.must("__complete", "vm", "create", "--image", ""); !strings.Contains(r.stdout, "default") {
			t.Logf("--image completion: %s", r)
		}
	})

	t.Run("delete removes forward and ssh entry", func(t *testing.T) {
		e.must("vm", "delete", "--force", "e2e-a")
		if r := fetch(); r.code == 0 {
			t.Errorf("forward still serves after delete: %s", r)
		}
		if b, _ := os.ReadFile(cfg); strings.Contains(string(b), "Host e2e-a") {
			t.Errorf("ssh config keeps the deleted vm:\n%s", b)
		}
	})
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// treeSummary lists every entry under dir with its mode and a checksum
// of its content (or its link target).
func treeSummary(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := ""
		switch {
		case info.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			sum = sha256hex(c)
		case info.Mode()&fs.ModeSymlink != 0:
			sum, _ = os.Readlink(p)
		}
		fmt.Fprintf(&b, "%s %v %s\n", rel, info.Mode(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// hasEvent reports whether JSON lines hold an event of typ about vm.
func hasEvent(lines, typ, vm string) bool {
	for _, line := range strings.Split(lines, "\n") {
		var ev struct{ Type, VM string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == typ && ev.VM == vm {
			return true
		}
	}
	return false
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
