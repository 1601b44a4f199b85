package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/paths"
)

// guestClockSkew is how far the guest's wall clock is from the host's,
// bracketing the ssh round trip: zero when the guest's time falls between
// the host's before and after the call.
func guestClockSkew(t *testing.T, e *env, ref string) time.Duration {
	t.Helper()
	before := time.Now()
	r := e.ssh(t, ref, "date", "+%s.%N")
	after := time.Now()
	if r.code != 0 {
		t.Fatalf("guest date: %s", r)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(r.stdout), 64)
	if err != nil {
		t.Fatalf("guest date %q: %v", r.stdout, err)
	}
	g := time.Unix(0, int64(f*1e9))
	switch {
	case g.Before(before):
		return before.Sub(g)
	case g.After(after):
		return g.Sub(after)
	}
	return 0
}

func TestSuspendResumeOnQemu(t *testing.T) {
	e := newVMEnv(t)
	e.must("vm", "create", "--name", "e2e-a", "--nat", "--memory", "768")
	r := e.ssh(t, "e2e-a", "sh", "-c", "echo in-memory > /tmp/suspend.txt && echo on-disk > /root/disk.txt && tmux new-session -d -s keep 'exec sleep 100000' && tmux list-panes -t keep -F '#{pane_pid}'")
	sleepPID := strings.TrimSpace(r.stdout)
	if r.code != 0 || sleepPID == "" {
		t.Fatalf("start sleep in tmux: %s", r)
	}
	before := e.vm(t, "e2e-a")
	dir := paths.VMDir(filepath.Join(e.stateDir(), "vms", before.ID))

	// Bad input first: a running VM cannot be resumed.
	if r := e.run("vm", "resume", "e2e-a"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "not suspended") {
		t.Errorf("resume of a running vm: %s", r)
	}

	start := time.Now()
	r = e.must("vm", "suspend", "e2e-a")
	t.Logf("suspend: %s\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	if v := e.vm(t, "e2e-a"); v.State != "suspended" || v.PID != 0 || v.TAP != "" {
		t.Fatalf("after suspend: %+v", v)
	}
	waitGone(t, before.PID)
	if n := killQemuOf(e.home); n != 0 {
		t.Fatalf("%d qemu processes left after suspend", n)
	}
	st, err := os.Stat(dir.SnapshotMemory())
	if err != nil {
		t.Fatalf("snapshot file: %v", err)
	}
	t.Logf("snapshot: %d MiB", st.Size()>>20)
	if rules := mustRules(t, e); strings.Contains(rules, ":vm:") {
		t.Errorf("NAT rules kept while suspended:\n%s", rules)
	}
	if r := e.run("vm", "suspend", "e2e-a"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "already suspended") {
		t.Errorf("suspend of a suspended vm: %s", r)
	}
	if r := e.run("vm", "set", "e2e-a", "--memory", "1024"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "suspended") {
		t.Errorf("vm set --memory while suspended: %s", r)
	}

	// bangerd dies hard while the VM is suspended; the next one keeps it so.
	dpid := e.daemonPID()
	exec.Command("kill", "-9", itoa(dpid)).Run()
	waitGone(t, dpid)
	list := e.must("vm", "list", "--json")
	var vms []vmJSON
	json.Unmarshal([]byte(list.stdout), &vms)
	if len(vms) != 1 || vms[0].State != "suspended" {
		t.Fatalf("after daemon restart: %s", list.stdout)
	}

	start = time.Now()
	r = e.must("vm", "resume", "e2e-a")
	resumeToSSH := time.Since(start)
	t.Logf("resume to ssh: %s\n%s", resumeToSSH.Round(time.Millisecond), r.stderr)
	contains(t, r, "running")
	if strings.Contains(r.stdout, "could not be restored") {
		t.Fatalf("resume fell back to a cold boot: %s", r)
	}
	out := e.ssh(t, "e2e-a", "sh", "-c", "tmux list-panes -t keep -F '#{pane_pid}' && cat /proc/"+sleepPID+"/comm && cat /tmp/suspend.txt")
	if f := strings.Fields(out.stdout); out.code != 0 || len(f) == 0 || f[0] != sleepPID || !strings.Contains(out.stdout, "sleep") || !strings.Contains(out.stdout, "in-memory") {
		t.Fatalf("after resume, want tmux pane %s running sleep and /tmp/suspend.txt: %s", sleepPID, out)
	}
	if skew := guestClockSkew(t, e, "e2e-a"); skew > 2*time.Second {
		t.Errorf("guest clock is %s off the host's after resume", skew)
	}
	if r := e.run("vm", "ports", "e2e-a"); r.code != 0 {
		t.Errorf("agent after resume: %s", r)
	}
	if rules := mustRules(t, e); !strings.Contains(rules, ":vm:") || !strings.Contains(rules, "MASQUERADE") {
		t.Errorf("NAT rules not back after resume:\n%s", rules)
	}
	if _, err := os.Stat(dir.SnapshotMemory()); !os.IsNotExist(err) {
		t.Errorf("snapshot kept after resume (it must never be restored twice): %v", err)
	}

	// A damaged snapshot falls back to a cold boot from the disks.
	e.must("vm", "suspend", "e2e-a")
	if err := os.WriteFile(dir.SnapshotMemory(), []byte("QEVM but not really\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.must("vm", "start", "e2e-a")
	if !strings.Contains(r.stderr+r.stdout, "could not be restored") {
		t.Errorf("a damaged snapshot gave no message: %s", r)
	}
	out = e.ssh(t, "e2e-a", "sh", "-c", "cat /root/disk.txt; tmux has-session -t keep 2>/dev/null && echo tmux-still-there; true")
	if out.code != 0 || !strings.Contains(out.stdout, "on-disk") || strings.Contains(out.stdout, "tmux-still-there") {
		t.Errorf("cold boot after a damaged snapshot: %s", out)
	}

	// Stop of a suspended VM discards its snapshot; suspend of a stopped
	// VM is refused.
	e.must("vm", "suspend", "e2e-a")
	e.must("vm", "stop", "e2e-a")
	if _, err := os.Stat(dir.SnapshotMemory()); !os.IsNotExist(err) {
		t.Errorf("snapshot kept after stop: %v", err)
	}
	if r := e.run("vm", "suspend", "e2e-a"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "only a running vm") {
		t.Errorf("suspend of a stopped vm: %s", r)
	}

	// The figure the README quotes: a cold start of the same VM, same run.
	start = time.Now()
	e.must("vm", "start", "e2e-a")
	cold := time.Since(start)
	t.Logf("FIGURE resume_to_ssh=%s cold_start_to_ssh=%s ratio=%.2f", resumeToSSH.Round(time.Millisecond), cold.Round(time.Millisecond), resumeToSSH.Seconds()/cold.Seconds())
}

func TestCloneOnQemu(t *testing.T) {
	e := newVMEnv(t)
	e.must("vm", "create", "--name", "e2e-a", "--memory", "512", "--disk-size", "4G")
	e.must("vm", "ssh", "e2e-a", "--", "sh", "-c", "echo from-source > /root/src.txt && sync")
	if r := e.run("vm", "clone", "e2e-a", "--name", "e2e-b"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "only a stopped vm") {
		t.Errorf("clone of a running vm: %s", r)
	}
	e.must("vm", "stop", "e2e-a")
	// Whether the guest left its overlay's journal to replay (the root
	// overlay cannot be unmounted at shutdown): the clone must cope.
	src := e.vm(t, "e2e-a")
	feat, _ := exec.Command("dumpe2fs", "-h", filepath.Join(e.stateDir(), "vms", src.ID, "overlay.ext4")).Output()
	for _, l := range strings.Split(string(feat), "\n") {
		if strings.HasPrefix(l, "Filesystem features:") {
			t.Logf("source overlay after stop: %s", l)
		}
	}
	if r := e.run("vm", "clone", "e2e-a", "--name", "e2e-a"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "already exists") {
		t.Errorf("clone to an existing name: %s", r)
	}
	start := time.Now()
	r := e.must("vm", "clone", "e2e-a", "--name", "e2e-b")
	clone4G := time.Since(start)
	t.Logf("clone: %s\n%s", clone4G.Round(time.Millisecond), r.stdout)
	// The same clone with a 64G work disk (grown sparse), for the figure.
	e.must("vm", "set", "e2e-a", "--disk-size", "64G")
	start = time.Now()
	e.must("vm", "clone", "e2e-a", "--name", "e2e-c")
	clone64G := time.Since(start)
	t.Logf("FIGURE clone_4G=%s clone_64G=%s ratio=%.2f", clone4G.Round(time.Millisecond), clone64G.Round(time.Millisecond), clone64G.Seconds()/clone4G.Seconds())
	e.must("vm", "delete", "e2e-c")
	e.must("vm", "start", "e2e-a", "e2e-b")
	a, b := e.vm(t, "e2e-a"), e.vm(t, "e2e-b")
	if a.ID == b.ID || a.IP == b.IP {
		t.Fatalf("clone shares id or address: %+v %+v", a, b)
	}
	ident := func(ref string) []string {
		// vm ssh checks the host key strictly against banger's known_hosts.
		r := e.ssh(t, ref, "sh", "-c", "hostname; cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub; ip -4 -o addr show scope global | awk '{print $4}'; cat /root/src.txt")
		if r.code != 0 {
			t.Fatalf("ssh %s: %s", ref, r)
		}
		return strings.Split(strings.TrimSpace(r.stdout), "\n")
	}
	ia, ib := ident("e2e-a"), ident("e2e-b")
	if len(ia) != 5 || len(ib) != 5 {
		t.Fatalf("identities: %q %q", ia, ib)
	}
	if ia[0] != "e2e-a" || ib[0] != "e2e-b" {
		t.Errorf("hostnames %q %q", ia[0], ib[0])
	}
	for i, what := range []string{"hostname", "machine-id", "host key", "address"} {
		if ia[i] == ib[i] {
			t.Errorf("clone has its source's %s: %q", what, ia[i])
		}
	}
	if !strings.HasPrefix(ib[3], b.IP+"/") {
		t.Errorf("clone's guest address %q, want %s", ib[3], b.IP)
	}
	if ib[4] != "from-source" {
		t.Errorf("clone lacks the source's work disk data: %q", ib[4])
	}
}
