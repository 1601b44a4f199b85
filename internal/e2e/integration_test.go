package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentclient "banger/internal/agent/client"
	"banger/internal/paths"
)

func (e *env) nsExec(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", e.netns}, args...)...).CombinedOutput()
	return string(out), err
}

// eventually retries f until it returns true or the timeout passes.
func eventually(timeout time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestPortsDNSReminderAndAgentStop(t *testing.T) {
	e := newVMEnv(t)
	e.must("vm", "create", "--name", "e2e-a", "--memory", "768")
	v := e.vm(t, "e2e-a")

	// A web server in the guest shows up in `vm ports` with a URL.
	r := e.ssh(t, "e2e-a", "sh", "-c", "cd /tmp && nohup python3 -m http.server 8000 </dev/null >/dev/null 2>&1 &")
	if r.code != 0 {
		t.Fatalf("start http.server: %s", r)
	}
	type port struct {
		Endpoint, Proto, URL, Process, Command string
		Port                                   int
	}
	var found port
	ok := eventually(3*time.Minute, func() bool {
		r := e.run("vm", "ports", "--json", "e2e-a")
		var res []struct {
			Ports []port
			Error string
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || len(res) != 1 {
			return false
		}
		for _, p := range res[0].Ports {
			if p.Port == 8000 {
				found = p
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("vm ports never listed port 8000: %s", e.run("vm", "ports", "e2e-a"))
	}
	if found.Endpoint != "e2e-a.vm:8000" || found.Proto != "tcp" || found.URL != "http://e2e-a.vm:8000/" || !strings.Contains(found.Command, "http.server") {
		t.Errorf("port 8000 listed as %+v", found)
	}
	human := e.must("vm", "ports", "e2e-a")
	contains(t, human, "e2e-a.vm:8000", "http://e2e-a.vm:8000/", "e2e-a.vm:22")

	// A guest process whose argv retitles the terminal and writes the
	// clipboard is listed escaped; --json keeps it exact.
	r = e.ssh(t, "e2e-a", "sh", "-c", `cd /tmp && nohup bash -c 'exec -a "$(printf "\033]0;pwned\007\033]52;c;eA==\007")py" python3 -m http.server 8001' </dev/null >/dev/null 2>&1 &`)
	if r.code != 0 {
		t.Fatalf("start the hostile server: %s", r)
	}
	const rawArgv = "\x1b]0;pwned\x07\x1b]52;c;eA==\x07py -m http.server 8001"
	ok = eventually(60*time.Second, func() bool {
		r := e.run("vm", "ports", "--json", "e2e-a")
		return r.code == 0 && strings.Contains(r.stdout, `\u001b]0;pwned\u0007\u001b]52;c;eA==\u0007py -m http.server 8001`)
	})
	if !ok {
		t.Fatalf("vm ports --json never listed the exact hostile argv %q: %s", rawArgv, e.run("vm", "ports", "--json", "e2e-a"))
	}
	human = e.must("vm", "ports", "e2e-a")
	contains(t, human, `\x1b]0;pwned\x07\x1b]52;c;eA==\x07py -m http.server 8001`)
	if strings.ContainsAny(human.stdout, "\x1b\x07") {
		t.Errorf("vm ports printed raw control characters: %q", human.stdout)
	}

	// The agent answers only the VM's token, which the guest holds
	// root-only and the host in a private directory.
	checkAgentToken(t, e, v.ID)

	// The .vm DNS server answers the guest's address (inside the namespace).
	out, err := e.nsExec(t, "dig", "+short", "@127.0.0.1", "-p", "42069", "e2e-a.vm")
	if err != nil || strings.TrimSpace(out) != v.IP {
		t.Errorf("dig e2e-a.vm = %q (%v), want %s", out, err, v.IP)
	}
	out, _ = e.nsExec(t, "dig", "@127.0.0.1", "-p", "42069", "nope.vm")
	if !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("unknown name not NXDOMAIN:\n%s", out)
	}

	// An interactive session that ends normally is followed by a reminder.
	r = e.runIn([]byte("exit 0\n"), "banger", "vm", "ssh", "e2e-a")
	if r.code != 0 || !strings.Contains(r.stderr, "e2e-a is still running") || !strings.Contains(r.stderr, "banger vm stop e2e-a") {
		t.Errorf("no post-ssh reminder:\n%s", r)
	}

	// Guest figures come from the agent.
	st := e.must("vm", "stats", "--json", "e2e-a")
	if !strings.Contains(st.stdout, `"guest"`) || !strings.Contains(st.stdout, `"mem_total_bytes"`) {
		t.Errorf("vm stats lacks guest figures:\n%s", st.stdout)
	}

	// vm stop goes through the agent: no fallback is logged.
	start := time.Now()
	e.must("vm", "stop", "e2e-a")
	t.Logf("stop took %s", time.Since(start).Round(time.Millisecond))
	log, _ := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
	if strings.Contains(string(log), "agent shutdown failed") {
		t.Errorf("stop fell back from the agent:\n%s", log)
	}
	// A stopped VM still resolves; a deleted one does not.
	out, _ = e.nsExec(t, "dig", "+short", "@127.0.0.1", "-p", "42069", "e2e-a.vm")
	if strings.TrimSpace(out) != v.IP {
		t.Errorf("stopped vm does not resolve: %q", out)
	}
	e.must("vm", "delete", "e2e-a")
	out, _ = e.nsExec(t, "dig", "@127.0.0.1", "-p", "42069", "e2e-a.vm")
	if !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("deleted vm still resolves:\n%s", out)
	}
}

// TestNAT puts an "outside" host in a second namespace behind a veth pair.
// It has no route back to the guest network, so the guest reaches it only
// when banger masquerades the guest's traffic.
func TestNAT(t *testing.T) {
	e := newVMEnv(t)
	outside := e.netns + "-out"
	steps := [][]string{
		{"ip", "netns", "add", outside},
		{"ip", "link", "add", "bgte2e-h", "netns", e.netns, "type", "veth", "peer", "name", "bgte2e-o", "netns", outside},
		{"ip", "-n", e.netns, "addr", "add", "10.250.0.1/24", "dev", "bgte2e-h"},
		{"ip", "-n", e.netns, "link", "set", "bgte2e-h", "up"},
		{"ip", "-n", outside, "addr", "add", "10.250.0.2/24", "dev", "bgte2e-o"},
		{"ip", "-n", outside, "link", "set", "bgte2e-o", "up"},
		{"ip", "-n", outside, "link", "set", "lo", "up"},
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", outside).Run() })
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", s, err, out)
		}
	}
	srv := exec.Command("ip", "netns", "exec", outside, "python3", "-m", "http.server", "8080", "--bind", "10.250.0.2", "--directory", t.TempDir())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	e.must("vm", "create", "--name", "e2e-b", "--nat", "--memory", "768")
	reach := func() bool {
		r := e.ssh(t, "e2e-b", "curl", "-s", "-o", "/dev/null", "-m", "4", "-w", "%{http_code}", "http://10.250.0.2:8080/")
		return r.code == 0 && strings.TrimSpace(r.stdout) == "200"
	}
	if !eventually(2*time.Minute, reach) {
		t.Fatal("guest with --nat cannot reach the outside host")
	}
	rules, _ := e.nsExec(t, "iptables-save")
	if !strings.Contains(rules, ":vm:") || !strings.Contains(rules, "MASQUERADE") {
		t.Errorf("no tagged NAT rules:\n%s", rules)
	}
	e.must("vm", "set", "e2e-b", "--no-nat")
	if reach() {
		t.Error("guest still reaches the outside host after --no-nat")
	}
	e.must("vm", "set", "e2e-b", "--nat")
	e.must("vm", "set", "e2e-b", "--nat") // applying twice changes nothing
	if !eventually(2*time.Minute, reach) {
		t.Error("--nat applied live does not work")
	}
	if before, after := rules, mustRules(t, e); strings.Count(after, ":vm:") != strings.Count(before, ":vm:") {
		t.Errorf("re-applying NAT changed the rule count:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	e.must("vm", "delete", "--force", "e2e-b")
	if after := mustRules(t, e); strings.Contains(after, ":vm:") {
		t.Errorf("NAT rules left after delete:\n%s", after)
	}
}

func mustRules(t *testing.T, e *env) string {
	t.Helper()
	out, err := e.nsExec(t, "iptables-save")
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	return out
}

// checkAgentToken checks a running VM's agent token on both sides, and
// that the agent refuses a caller without it.
func checkAgentToken(t *testing.T, e *env, id string) {
	t.Helper()
	dir := paths.VMDir(filepath.Join(e.stateDir(), "vms", id))
	if st, err := os.Stat(dir.String()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("vm dir %s: %v, mode %v, want 0700", dir, err, st.Mode().Perm())
	}
	for _, s := range dir.Sockets() {
		if st, err := os.Stat(s); err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("socket %s has mode %v, want 0600", s, st.Mode().Perm())
		}
	}
	st, err := os.Stat(dir.AgentToken())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("host agent token: %v, mode %v", err, st.Mode().Perm())
	}
	b, _ := os.ReadFile(dir.AgentToken())
	token := strings.TrimSpace(string(b))
	r := e.ssh(t, "e2e-a", "sh", "-c", "stat -c '%a %U %G' /etc/banger/agent-token && cat /etc/banger/agent-token")
	if r.code != 0 || r.stdout != "600 root root\n"+token+"\n" {
		t.Errorf("guest token file: %s, want mode 600 root root holding the host's token", r)
	}
	ctx := context.Background()
	dial := agentclient.VsockDialer(dir.VsockSocket())
	for _, bad := range []string{"", strings.Repeat("0", 64)} {
		if _, err := agentclient.New(dial, bad).Health(ctx); !errors.Is(err, agentclient.ErrUnauthorized) {
			t.Errorf("agent with token %q: %v, want it refused", bad, err)
		}
		if err := agentclient.New(dial, bad).Shutdown(ctx, "reboot"); !errors.Is(err, agentclient.ErrUnauthorized) {
			t.Errorf("agent shutdown with token %q: %v, want it refused", bad, err)
		}
	}
	if _, err := agentclient.New(dial, token).Health(ctx); err != nil {
		t.Errorf("agent with the vm's token: %v", err)
	}
}
