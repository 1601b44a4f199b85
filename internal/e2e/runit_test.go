package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunitGuestOnQemu boots a Debian rootfs whose init is runit (no
// systemd at all) and checks it gets what a systemd guest gets: address,
// route, resolver, hostname and loopback from the initrd, the work disk at
// /root, sshd with the VM's host key and the installation's key, the agent
// (ports, stats, restarted by runsv when it dies, clean shutdown), and its
// files across stop/start. `image show` names each image's init.
func TestRunitGuestOnQemu(t *testing.T) {
	e := newVMEnv(t)
	bundle := requireVMHost(t)
	rootfs := runitRootfs(t, bundle)

	e.must("image", "register", "--name", "deb-runit", "--rootfs", rootfs)
	var im struct{ Name, Init string }
	if err := json.Unmarshal([]byte(e.must("image", "show", "--json", "deb-runit").stdout), &im); err != nil || im.Init != "runit" {
		t.Fatalf("image show --json deb-runit: init %q (%v), want runit", im.Init, err)
	}
	contains(t, e.must("image", "show", "deb-runit"), "init:", "runit")
	var ims []struct{ Name, Init string }
	if err := json.Unmarshal([]byte(e.must("image", "list", "--json").stdout), &ims); err != nil {
		t.Fatal(err)
	}
	inits := map[string]string{}
	for _, im := range ims {
		inits[im.Name] = im.Init
	}
	if inits["deb-runit"] != "runit" || inits["default"] != "systemd" {
		t.Errorf("image list --json inits: %v, want deb-runit runit and default systemd", inits)
	}

	start := time.Now()
	r := e.must("vm", "create", "--name", "e2e-a", "--image", "deb-runit", "--disk-size", "1G", "--memory", "512")
	t.Logf("create to ssh (runit guest): %s\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	v := e.vm(t, "e2e-a")

	// runit is PID 1 and systemd is nowhere; banger's two services run
	// under runsv. `vm ssh` checks the VM's host key strictly, so getting
	// in at all means sshd offers banger's key and takes the installation's.
	out := e.ssh(t, "e2e-a", "sh", "-c", "cat /proc/1/comm; test -d /run/systemd/system && echo HAS-SYSTEMD; sv status ssh banger-vsock-agent")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "runit\n") || strings.Contains(out.stdout, "HAS-SYSTEMD") ||
		!strings.Contains(out.stdout, "run: ssh:") || !strings.Contains(out.stdout, "run: banger-vsock-agent:") {
		t.Fatalf("init and services: %s", out)
	}

	// What the initrd set up: hostname, address, default route, loopback,
	// resolver from the guest config, the work disk on /root.
	out = e.ssh(t, "e2e-a", "sh", "-c", "hostname; ip -4 -o addr show; ip route show default; ip -o link show lo; cat /etc/resolv.conf; findmnt -n -o FSTYPE,SOURCE /root")
	if out.code != 0 {
		t.Fatalf("guest network and mounts: %s", out)
	}
	lines := strings.Split(out.stdout, "\n")
	if lines[0] != "e2e-a" {
		t.Errorf("hostname %q, want e2e-a", lines[0])
	}
	for _, want := range []string{" " + v.IP + "/", "default via ", "lo: <LOOPBACK,UP", "# Managed by banger"} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("guest lacks %q:\n%s", want, out.stdout)
		}
	}
	if mnt := strings.Fields(lines[len(lines)-2]); len(mnt) != 2 || mnt[0] != "ext4" || !strings.HasPrefix(mnt[1], "/dev/vd") {
		t.Errorf("/root is not the ext4 work disk: findmnt says %q", lines[len(lines)-2])
	}
	if r := e.ssh(t, "e2e-a", "sh", "-c", "echo kept > /root/persist.txt && echo sys > /etc/banger-e2e-marker"); r.code != 0 {
		t.Fatalf("write files: %s", r)
	}

	// The agent: listening ports (sshd on 22) and guest figures.
	var portsOut result
	if !eventually(2*time.Minute, func() bool {
		portsOut = e.run("vm", "ports", "--json", "e2e-a")
		var res []struct {
			Ports []struct {
				Port             int
				Process, Command string
			}
		}
		if portsOut.code != 0 || json.Unmarshal([]byte(portsOut.stdout), &res) != nil || len(res) != 1 {
			return false
		}
		for _, p := range res[0].Ports {
			if p.Port == 22 && strings.Contains(p.Process+" "+p.Command, "sshd") {
				return true
			}
		}
		return false
	}) {
		t.Errorf("vm ports never listed sshd on 22: %s", portsOut)
	}
	guestStats := func() bool {
		st := e.run("vm", "stats", "--json", "e2e-a")
		return st.code == 0 && strings.Contains(st.stdout, `"mem_total_bytes"`)
	}
	if !guestStats() {
		t.Errorf("vm stats lacks guest figures: %s", e.run("vm", "stats", "--json", "e2e-a"))
	}

	// runsv restarts the agent when it dies.
	pid := strings.TrimSpace(e.ssh(t, "e2e-a", "pidof", "banger-vsock-agent").stdout)
	if pid == "" {
		t.Fatal("no banger-vsock-agent process in the guest")
	}
	if r := e.ssh(t, "e2e-a", "kill", "-9", pid); r.code != 0 {
		t.Fatalf("kill the agent: %s", r)
	}
	var again string
	if !eventually(time.Minute, func() bool {
		again = strings.TrimSpace(e.ssh(t, "e2e-a", "pidof", "banger-vsock-agent").stdout)
		return again != "" && again != pid && guestStats()
	}) {
		t.Fatalf("the agent (pid %s) was not restarted after kill -9: pidof says %q", pid, again)
	}

	// vm stop goes through the agent, and runit brings the guest down.
	r = e.must("vm", "stop", "e2e-a")
	if strings.Contains(r.stdout+r.stderr, "did not stop") {
		t.Errorf("stop fell back to terminating the vmm:\n%s", r)
	}
	log, _ := os.ReadFile(filepath.Join(e.stateDir(), "bangerd.log"))
	if strings.Contains(string(log), "agent shutdown failed") {
		t.Errorf("stop fell back from the agent:\n%s", log)
	}
	console := filepath.Join(e.stateDir(), "vms", v.ID, "console.1.log")
	if !eventually(30*time.Second, func() bool {
		b, _ := os.ReadFile(console)
		return strings.Contains(string(b), "Waiting for services to stop...")
	}) {
		b, _ := os.ReadFile(console)
		t.Errorf("the console shows no runit stage 3 shutdown:\n%s", b)
	} else {
		b, _ := os.ReadFile(console)
		t.Logf("first boot's console (%d bytes):\n%s", len(b), b)
	}

	// Files on /root and in the overlay survive stop/start.
	e.must("vm", "start", "e2e-a")
	out = e.ssh(t, "e2e-a", "sh", "-c", "cat /root/persist.txt /etc/banger-e2e-marker; cat /proc/1/comm")
	if out.code != 0 || out.stdout != "kept\nsys\nrunit\n" {
		t.Fatalf("after stop/start: %s", out)
	}
	e.must("vm", "delete", "--force", "e2e-a")
}
