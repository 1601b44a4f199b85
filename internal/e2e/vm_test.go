package e2e

import (
	"banger/internal/testenv"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireVMHost skips (or, with CI=true, fails) unless this host can boot
// real VMs for the tests: root for the network namespace, qemu, and a
// runtime bundle in BANGER_TEST_BUNDLE (scripts/test-bundle.sh builds one).
func requireVMHost(t *testing.T) string {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		missing = append(missing, "qemu-system-x86_64")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (iproute2)")
	}
	bundle := os.Getenv("BANGER_TEST_BUNDLE")
	if bundle == "" {
		missing = append(missing, "BANGER_TEST_BUNDLE (run scripts/test-bundle.sh)")
	} else if _, err := os.Stat(filepath.Join(bundle, "bundle.json")); err != nil {
		missing = append(missing, "a bundle.json in BANGER_TEST_BUNDLE="+bundle)
	}
	testenv.RequireOrSkip(t, strings.Join(missing, ", ")+" (VM end-to-end test)", len(missing) == 0)
	return bundle
}

// newVMEnv is an env whose commands (and so its daemon and VMs) run in a
// fresh network namespace, deleted with everything in it at cleanup.
func newVMEnv(t *testing.T) *env {
	t.Helper()
	return newNetnsEnv(t, requireVMHost(t), "BANGER_VMM=qemu")
}

// newNetnsEnv is newVMEnv for any VMM: extra sets BANGER_VMM and friends.
// newEnv already put the env in a network namespace of its own.
func newNetnsEnv(t *testing.T, bundle string, extra ...string) *env {
	t.Helper()
	e := newEnv(t)
	e.extra = append(e.extra,
		"BANGER_RUNTIME_DIR="+bundle,
		"BANGER_TAP_POOL_SIZE=1",
		"BANGER_DNS_LISTEN=127.0.0.1:42069",
	)
	e.extra = append(e.extra, extra...)
	t.Cleanup(func() {
		// Cleanups run last-in first-out: this runs before newEnv's, so
		// VMs go first, then the daemon, then the namespace.
		e.runIn(nil, "banger", "vm", "delete", "--force", "e2e-a", "e2e-b", "e2e-c", "e2e-d")
		e.stopDaemon()
		killQemuOf(e.home)
	})
	return e
}

// killQemuOf kills any qemu whose command line mentions dir (a leak).
func killQemuOf(dir string) int {
	out, _ := exec.Command("pgrep", "-f", "qemu-system-x86_64.*"+dir).Output()
	n := 0
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
		n++
	}
	return n
}

type vmJSON struct {
	ID, Name, State, IP, TAP string
	PID                      int
}

func (e *env) vm(t *testing.T, ref string) vmJSON {
	t.Helper()
	r := e.must("vm", "show", "--json", ref)
	var v vmJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("vm show --json: %v\n%s", err, r)
	}
	return v
}

func (e *env) ssh(t *testing.T, ref string, cmd ...string) result {
	t.Helper()
	return e.run(append([]string{"vm", "ssh", ref, "--"}, cmd...)...)
}

func TestVMLifecycleOnQemu(t *testing.T) {
	e := newVMEnv(t)
	start := time.Now()
	r := e.must("vm", "create", "--name", "e2e-a", "--disk-size", "4G", "--memory", "768")
	t.Logf("create to ssh: %s\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	contains(t, r, "e2e-a is running")

	out := e.ssh(t, "e2e-a", "sh", "-c", "echo kept > /root/persist.txt && hostname")
	if out.code != 0 || strings.TrimSpace(out.stdout) != "e2e-a" {
		t.Fatalf("ssh write: %s", out)
	}
	if code := e.ssh(t, "e2e-a", "sh", "-c", "exit 7").code; code != 7 {
		t.Errorf("remote exit code not passed through: %d", code)
	}
	// The work disk was grown to --disk-size 4G (ext4 keeps a few percent).
	df := e.ssh(t, "e2e-a", "df", "-B1", "--output=size", "/root")
	fields := strings.Fields(df.stdout)
	if len(fields) == 0 {
		t.Fatalf("df /root: %s", df)
	}
	if size, err := strconv.ParseInt(fields[len(fields)-1], 10, 64); err != nil || size < 3<<30 || size > 4<<30 {
		t.Errorf("/root is not the 4G work disk: %s", df)
	}

	// Docker works in the guest, on overlay2 (its data is bound from the
	// overlay disk's ext4, not the overlayfs root). No registry is
	// reachable, so the container image is imported from guest files.
	var docker result
	if !eventually(5*time.Minute, func() bool {
		docker = e.ssh(t, "e2e-a", "docker info --format '{{.Driver}}' && tar -C / -chf - usr/bin/echo lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/libc.so.6 2>/dev/null | docker import - tiny >/dev/null && docker run --rm tiny /usr/bin/echo container-ok")
		return docker.code == 0
	}) || !strings.Contains(docker.stdout, "overlay2") || !strings.Contains(docker.stdout, "container-ok") {
		t.Errorf("docker in the guest: %s", docker)
	}

	e.must("vm", "stop", "e2e-a")
	if v := e.vm(t, "e2e-a"); v.State != "stopped" || v.PID != 0 {
		t.Fatalf("after stop: %+v", v)
	}
	e.must("vm", "start", "e2e-a")
	out = e.ssh(t, "e2e-a", "cat", "/root/persist.txt")
	if strings.TrimSpace(out.stdout) != "kept" {
		t.Fatalf("/root did not survive stop/start: %s", out)
	}
	e.must("vm", "restart", "e2e-a")
	out = e.ssh(t, "e2e-a", "cat", "/root/persist.txt")
	if strings.TrimSpace(out.stdout) != "kept" {
		t.Fatalf("/root did not survive restart: %s", out)
	}

	// bangerd dies hard; the VM keeps running and the next daemon adopts it.
	before := e.vm(t, "e2e-a")
	dpid := e.daemonPID()
	exec.Command("kill", "-9", itoa(dpid)).Run()
	waitGone(t, dpid)
	if !alive(before.PID) {
		t.Fatal("VM died with bangerd")
	}
	list := e.must("vm", "list", "--json")
	var vms []vmJSON
	json.Unmarshal([]byte(list.stdout), &vms)
	if len(vms) != 1 || vms[0].State != "running" || vms[0].PID != before.PID {
		t.Fatalf("after daemon restart: %s", list.stdout)
	}
	if out := e.ssh(t, "e2e-a", "true"); out.code != 0 {
		t.Fatalf("ssh after daemon restart: %s", out)
	}

	vmDir := filepath.Join(e.stateDir(), "vms", before.ID)
	e.must("vm", "delete", "--force", "e2e-a")
	waitGone(t, before.PID)
	if _, err := os.Stat(vmDir); !os.IsNotExist(err) {
		t.Errorf("vm dir left: %s", vmDir)
	}
	links, _ := exec.Command("ip", "-n", e.netns, "-o", "link", "show").Output()
	if strings.Contains(string(links), before.TAP+":") {
		t.Errorf("tap %s left:\n%s", before.TAP, links)
	}
	if n := killQemuOf(e.home); n != 0 {
		t.Errorf("%d qemu processes left", n)
	}
	if r := e.run("vm", "show", "e2e-a"); r.code == 0 {
		t.Errorf("record left after delete")
	}
}

func TestVMMultiRefOnQemu(t *testing.T) {
	e := newVMEnv(t)
	names := []string{"e2e-b", "e2e-c", "e2e-d"}
	for _, n := range names {
		e.must("vm", "create", "--name", n, "--no-wait", "--memory", "512", "--vcpu", "1", "--disk-size", "1G")
	}
	r := e.must(append([]string{"vm", "stop", "--timeout", "20"}, names...)...)
	for _, n := range names {
		contains(t, r, n+": stopped")
	}
	// Offline changes through the CLI; disks only grow.
	e.must("vm", "set", "e2e-b", "--memory", "640", "--vcpu", "2", "--disk-size", "2G")
	show := e.must("vm", "show", "--json", "e2e-b")
	if !strings.Contains(show.stdout, `"memory_mib": 640`) || !strings.Contains(show.stdout, `"disk_size_bytes": 2147483648`) {
		t.Errorf("vm set not applied: %s", show.stdout)
	}
	if r := e.run("vm", "set", "e2e-b", "--disk-size", "1G"); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "only grow") {
		t.Errorf("shrinking a disk: %s", r)
	}
	r = e.run("vm", "start", "e2e-b", "ghost")
	if r.code != 1 {
		t.Fatalf("multi-ref with one bad ref must exit 1:\n%s", r)
	}
	contains(t, r, "e2e-b: running", "ghost: error")
	// kill -s KILL ends the VMM; the VM is then recorded as stopped.
	b := e.vm(t, "e2e-b")
	contains(t, e.must("vm", "kill", "--signal", "KILL", "e2e-b"), "e2e-b: signalled (stopped)")
	if alive(b.PID) || e.vm(t, "e2e-b").State != "stopped" {
		t.Errorf("vm kill --signal KILL did not stop e2e-b")
	}
	r = e.must(append([]string{"vm", "delete", "--force"}, names...)...)
	for _, n := range names {
		contains(t, r, n+": deleted")
	}
	if n := killQemuOf(e.home); n != 0 {
		t.Errorf("%d qemu processes left", n)
	}
	list := e.must("vm", "list", "--json")
	if strings.TrimSpace(list.stdout) != "[]" {
		t.Errorf("vms left: %s", list.stdout)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestKill9DuringCreate kills bangerd while a create is under way. After
// the next daemon starts, the VM is either complete (running) or gone
// without a trace: no record, directory, VMM process or TAP.
func TestKill9DuringCreate(t *testing.T) {
	e := newVMEnv(t)
	e.must("daemon", "status")
	dpid := e.daemonPID()
	create := e.command(context.Background(), filepath.Join(binDir, "banger"), "vm", "create", "--name", "e2e-c")
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	vmsDir := filepath.Join(e.stateDir(), "vms")
	// Kill as soon as the VM's directory appears: the create is then
	// writing disks, well before it records the VM as running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if entries, _ := os.ReadDir(vmsDir); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("create never started")
		}
		time.Sleep(2 * time.Millisecond)
	}
	exec.Command("kill", "-9", itoa(dpid)).Run()
	create.Wait()
	waitGone(t, dpid)

	list := e.must("vm", "list", "--json")
	var vms []vmJSON
	json.Unmarshal([]byte(list.stdout), &vms)
	switch {
	case len(vms) == 1 && vms[0].State == "running" && alive(vms[0].PID):
		t.Logf("the create had finished its work: vm %s is running", vms[0].Name)
		e.must("vm", "delete", "--force", "e2e-c")
	case len(vms) == 0:
		t.Log("the half-created vm was removed")
	default:
		t.Fatalf("after restart: %s", list.stdout)
	}
	e.must("daemon", "stop")
	if entries, _ := os.ReadDir(vmsDir); len(entries) != 0 {
		t.Errorf("vm directories left: %v", entries)
	}
	if n := killQemuOf(e.home); n != 0 {
		t.Errorf("%d qemu processes left", n)
	}
	links, _ := exec.Command("ip", "-n", e.netns, "-o", "link", "show").Output()
	if strings.Contains(string(links), "bgt-") {
		t.Errorf("taps left:\n%s", links)
	}
}

// TestSecondInstallationLeavesTheFirstAlone starts a second installation
// (another HOME, so another state dir and installation id) in the same
// network namespace while the first has a running VM. The second daemon
// refuses to start, naming the bridge and the other installation, and the
// first's VM keeps its TAP and answers SSH. Before installations were kept
// apart, the second daemon's startup reconcile deleted the first's TAP.
func TestSecondInstallationLeavesTheFirstAlone(t *testing.T) {
	first := newVMEnv(t)
	first.must("vm", "create", "--name", "e2e-a", "--memory", "512")
	v := first.vm(t, "e2e-a")

	second := newEnv(t)
	second.netns = first.netns
	second.extra = append(second.extra, first.extra...)
	r := second.run("daemon", "status")
	if r.code == 0 || !strings.Contains(r.stderr, "bridge banger0 is in use by another banger installation") || !strings.Contains(r.stderr, "its tap bgt-") {
		t.Fatalf("second installation beside a running one:\n%s", r)
	}
	links, _ := exec.Command("ip", "-n", first.netns, "-o", "link", "show", v.TAP).Output()
	if !strings.Contains(string(links), v.TAP) {
		t.Fatalf("the first installation's tap %s is gone", v.TAP)
	}
	if r := first.ssh(t, "e2e-a", "true"); r.code != 0 {
		t.Fatalf("the first installation's vm stopped answering ssh:\n%s", r)
	}

	// Anti-spoofing on the real path: the guest reaches a server on the
	// host's bridge address from its own address, not from a borrowed one.
	srv := exec.Command("ip", "netns", "exec", first.netns, "python3", "-m", "http.server", "8099", "--bind", "172.30.0.1", "--directory", t.TempDir())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	if !eventually(2*time.Minute, func() bool {
		return first.ssh(t, "e2e-a", "curl", "-s", "-o", "/dev/null", "-m", "3", "http://172.30.0.1:8099/").code == 0
	}) {
		t.Fatal("the guest cannot reach the host from its own address")
	}
	r = first.ssh(t, "e2e-a", "sh", "-c", "dev=$(ip -o -4 addr show | awk '/172\\.30\\./ {print $2; exit}') && ip addr add 172.30.0.99/24 dev $dev && curl -s -o /dev/null -m 3 --interface 172.30.0.99 http://172.30.0.1:8099/")
	if r.code == 0 {
		t.Errorf("a spoofed source address got through:\n%s", r)
	}
}
