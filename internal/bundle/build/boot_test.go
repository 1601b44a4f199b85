package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"banger/internal/bundle"
	"banger/internal/daemon"
	"banger/internal/disk"
	"banger/internal/execx"
	"banger/internal/guestconfig"
	"banger/internal/network"
	"banger/internal/paths"
	"banger/internal/store"
	"banger/internal/testenv"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
)

// Network of the boot test, entirely inside a namespace the test creates.
const (
	bootHostCIDR = "172.31.0.1/24"
	bootGuestIP  = "172.31.0.2"
)

func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := execx.Run(context.Background(), argv...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(out)
}

// bootEnv is a built bundle plus the host tools the boot test needs.
func bootEnv(t *testing.T) (dir string, m *bundle.Meta) {
	t.Helper()
	dir = os.Getenv("BANGER_TEST_BUNDLE")
	testenv.RequireOrSkip(t, "BANGER_TEST_BUNDLE (run scripts/test-bundle.sh and export its output)", dir != "")
	testenv.RequireOrSkip(t, "root (network namespace, TAP)", os.Geteuid() == 0)
	for _, tool := range []string{"qemu-system-x86_64", "ip", "mkfs.ext4", "debugfs", "ssh", "ssh-keygen"} {
		_, err := execx.LookPath(tool)
		testenv.RequireOrSkip(t, tool+" (not installed)", err == nil)
	}
	if ps := bundle.Verify(dir); len(ps) > 0 {
		t.Fatalf("BANGER_TEST_BUNDLE=%s is not a usable bundle: %v", dir, ps)
	}
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// netns creates banger-t-XXXX with a bridge (host address) and a TAP on it,
// and deletes it when the test ends.
func netns(t *testing.T) (ns, tap string) {
	t.Helper()
	suffix := make([]byte, 3)
	rand.Read(suffix)
	ns = "banger-t-" + hex.EncodeToString(suffix)
	mustRun(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if _, err := execx.Run(context.Background(), "ip", "netns", "del", ns); err != nil {
			t.Errorf("delete netns %s: %v", ns, err)
		}
	})
	tap = "tap0"
	for _, argv := range [][]string{
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", ns, "addr", "add", bootHostCIDR, "dev", "br0"},
		{"ip", "-n", ns, "link", "set", "br0", "up"},
		{"ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"},
		{"ip", "-n", ns, "link", "set", tap, "master", "br0"},
		{"ip", "-n", ns, "link", "set", tap, "up"},
	} {
		mustRun(t, argv...)
	}
	return ns, tap
}

// bootVM is the record bangerd keeps for a VM of the bundle in bdir (qemu
// under TCG, on tap when set), with a directory for its disks, sockets and
// logs.
func bootVM(t *testing.T, bdir string, m *bundle.Meta, kernel, tap string) (*store.VM, paths.VMDir) {
	t.Helper()
	id := make([]byte, 8)
	rand.Read(id)
	v := &store.VM{
		ID: hex.EncodeToString(id), Name: "boot-test", VMM: "qemu", Accel: "tcg",
		VCPUs: 2, MemoryMiB: 1024, IP: netip.MustParseAddr(bootGuestIP), TAP: tap,
		Kernel: kernel, Initrd: bundle.Path(bdir, m.Initrd), Rootfs: bundle.Path(bdir, m.Rootfs),
	}
	v.MAC = network.MACFromID(v.ID).String()
	return v, paths.VMDir(t.TempDir())
}

// qemuCommand is the command line the qemu driver runs for spec.
func qemuCommand(t *testing.T, spec vmm.Spec) []string {
	t.Helper()
	argv, err := qemu.New(qemu.Options{Accel: "tcg"}).Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	return argv
}

// startQemu runs argv (inside ns); the returned channel closes when it
// exits. The test's cleanup kills it.
func startQemu(t *testing.T, ns string, argv []string, logPath string) <-chan struct{} {
	t.Helper()
	args := append([]string{"ip", "netns", "exec", ns}, argv...)
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return done
}

func tail(p string, n int) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestBootBundleQemu boots the bundle in BANGER_TEST_BUNDLE under qemu TCG
// inside a private network namespace and proves SSH answers with the
// per-VM host key and client key written into the overlay disk.
func TestBootBundleQemu(t *testing.T) {
	bdir, m := bootEnv(t)
	ns, tap := netns(t)
	kernel := bundle.Path(bdir, m.KernelELF)
	if os.Getenv("BANGER_TEST_BZIMAGE_BOOT") == "1" {
		kernel = bundle.Path(bdir, m.KernelImage)
	}
	v, dir := bootVM(t, bdir, m, kernel, tap)
	ip := v.IP.String()

	// The guest's files as bangerd renders them for a new VM.
	keys := t.TempDir()
	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger-test-client", "-f", filepath.Join(keys, "client"))
	clientPub, err := os.ReadFile(filepath.Join(keys, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, hostPub, err := guestconfig.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	token, err := guestconfig.NewAgentToken()
	if err != nil {
		t.Fatal(err)
	}
	gw := netip.MustParsePrefix(bootHostCIDR)
	files, err := guestconfig.Render(guestconfig.Config{
		Hostname: v.Name, MAC: network.MACFromID(v.ID),
		Address: netip.PrefixFrom(v.IP, gw.Bits()), Gateway: gw.Addr(),
		AuthorizedKeys: []string{strings.TrimSpace(string(clientPub))},
		HostKey:        hostKey, HostKeyPub: hostPub, AgentToken: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(keys, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(guestconfig.KnownHostsLine([]string{ip}, hostPub)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := disk.CreateOverlay(ctx, dir.Overlay(), 1<<30, files); err != nil {
		t.Fatal(err)
	}
	if err := disk.CloneSeed(ctx, bundle.Path(bdir, m.WorkSeed), dir.WorkDisk()); err != nil {
		t.Fatal(err)
	}

	spec := daemon.VMSpec(v, dir, 1)
	argv := qemuCommand(t, spec)
	console := spec.ConsolePath
	start := time.Now()
	exited := startQemu(t, ns, argv, spec.LogPath)

	sshArgs := []string{"ip", "netns", "exec", ns, "ssh", "-i", filepath.Join(keys, "client"),
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "root@" + ip}
	// A generous deadline: TCG on a loaded 2-core machine is slow, and the
	// boot time is reported, not asserted.
	deadline := start.Add(5 * time.Minute)
	var lastErr error
	for {
		if _, lastErr = execx.Run(context.Background(), append(sshArgs, "true")...); lastErr == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("qemu exited before SSH answered\nconsole:\n%s\nqemu:\n%s", tail(console, 40), tail(spec.LogPath, 10))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SSH after %s: %v\nconsole:\n%s", time.Since(start).Round(time.Second), lastErr, tail(console, 60))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("SSH answered %.1fs after qemu started (TCG, kernel %s)", time.Since(start).Seconds(), filepath.Base(kernel))

	probe := `set -e
echo "root=$(findmnt -n -o FSTYPE /)"
echo "home=$(findmnt -n -o SOURCE,FSTYPE /root | tr -s ' ' :)"
echo "home_label=$(blkid -s LABEL -o value "$(findmnt -n -o SOURCE /root)")"
echo "machine_id=$(cat /etc/machine-id)"
echo "hostname=$(hostname)"
echo "hostkeys=$(ls /etc/ssh | grep '^ssh_host_' | tr '\n' ' ')"
echo "agent=$(systemctl is-enabled banger-vsock-agent)"
echo "lower=$(findmnt -n -o SOURCE /run/banger/lower)"
echo "ss=$(ss -ltn | grep -c LISTEN)"
echo "ssh_unit=$(systemctl show -p FragmentPath --value ssh.service)"
echo "ssh_after_network=$(systemctl show -p After --value ssh.service | tr ' ' '\n' | grep -c '^network' || true)"
echo "gpt_auto=$(readlink /etc/systemd/system-generators/systemd-gpt-auto-generator)"
echo "docker=$(systemctl is-enabled docker.service containerd.service systemd-networkd.service | tr '\n' ' ')"
`
	if os.Getenv("BANGER_TEST_BOOT_ANALYZE") == "1" {
		// Waits for the whole boot (docker included), so it is opt-in.
		probe += `timeout 120 systemctl is-system-running --wait >/dev/null 2>&1 || true
echo "state=$(systemctl is-system-running || true)"
echo "analyze=$(systemd-analyze | head -1)"
systemd-analyze blame | head -12 | sed 's/^/blame=/'
systemd-analyze critical-chain ssh.service | sed 's/^/chain=/'
systemctl --failed --no-legend --plain | sed 's/^/failed=/'
`
	}
	out, err := execx.Run(context.Background(), append(sshArgs, probe)...)
	if err != nil {
		t.Fatalf("probe over SSH: %v", err)
	}
	t.Logf("guest:\n%s", out)
	facts := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			facts[k] = strings.TrimSpace(v)
		}
	}
	checks := []struct {
		key  string
		want *regexp.Regexp
	}{
		{"root", regexp.MustCompile(`^overlay$`)},
		{"home", regexp.MustCompile(`^/dev/vd[a-z]:ext4$`)},
		{"home_label", regexp.MustCompile(`^` + bundle.LabelWork + `$`)},
		{"machine_id", regexp.MustCompile(`^[0-9a-f]{32}$`)},
		{"hostname", regexp.MustCompile(`^` + v.Name + `$`)},
		{"hostkeys", regexp.MustCompile(`^ssh_host_ed25519_key ssh_host_ed25519_key.pub$`)},
		{"agent", regexp.MustCompile(`^enabled$`)},
		{"lower", regexp.MustCompile(`^/dev/vd[a-z]$`)},
		{"ss", regexp.MustCompile(`^[1-9][0-9]*$`)},
		// The trimmed boot: banger's own ssh.service, not ordered after
		// the network; generators masked; Docker, containerd and networkd
		// still start at boot.
		{"ssh_unit", regexp.MustCompile(`^/etc/systemd/system/ssh.service$`)},
		{"ssh_after_network", regexp.MustCompile(`^0$`)},
		{"gpt_auto", regexp.MustCompile(`^/dev/null$`)},
		{"docker", regexp.MustCompile(`^enabled enabled enabled$`)},
	}
	for _, c := range checks {
		if !c.want.MatchString(facts[c.key]) {
			t.Errorf("guest %s = %q, want %v", c.key, facts[c.key], c.want)
		}
	}
}

// TestBootBundleQemuNoOverlay boots without the overlay disk: the init must
// say so on the console and stop the VM instead of hanging.
func TestBootBundleQemuNoOverlay(t *testing.T) {
	bdir, m := bootEnv(t)
	ns, _ := netns(t)
	v, dir := bootVM(t, bdir, m, bundle.Path(bdir, m.KernelELF), "")
	spec := daemon.VMSpec(v, dir, 1)
	spec.Disks = spec.Disks[:1] // the rootfs alone
	argv := qemuCommand(t, spec)
	console := spec.ConsolePath
	start := time.Now()
	exited := startQemu(t, ns, argv, spec.LogPath)
	select {
	case <-exited:
	case <-time.After(5 * time.Minute):
		t.Fatalf("VM still running 5 minutes after boot without an overlay disk\nconsole:\n%s", tail(console, 30))
	}
	b, _ := os.ReadFile(console)
	if !strings.Contains(string(b), "banger-init: error: no overlay disk") {
		t.Fatalf("console lacks the init's error:\n%s", tail(console, 30))
	}
	t.Logf("VM without an overlay disk stopped itself after %.1fs", time.Since(start).Seconds())
}
