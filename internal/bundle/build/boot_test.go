package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"banger/internal/bundle"
	"banger/internal/execx"
	"banger/internal/testenv"
)

// Network of the boot test, entirely inside a namespace the test creates.
const (
	bootHostCIDR = "172.31.0.1/24"
	bootGuestIP  = "172.31.0.2"
	bootGuestMAC = "52:54:00:ba:00:02"
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

// guestFile is one file of the per-VM configuration in the overlay's upper
// directory, as banger's guest-config writer produces it.
type guestFile struct {
	path, data, link string
	mode             os.FileMode
}

// overlayDisk writes an ext4 labelled banger-ovl holding /upper (with files)
// and /work, then makes every entry root-owned with a debugfs script — the
// way a non-root bangerd does it, since mkfs.ext4 -d keeps the stager's uid.
func overlayDisk(t *testing.T, dir string, files []guestFile) string {
	t.Helper()
	stage := filepath.Join(dir, "ovl-stage")
	for _, d := range []string{"upper", "work"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var script strings.Builder
	seenDir := map[string]bool{}
	for _, f := range files {
		host := filepath.Join(stage, "upper", f.path)
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		for d := filepath.Dir(f.path); d != "/" && !seenDir[d]; d = filepath.Dir(d) {
			seenDir[d] = true
			fmt.Fprintf(&script, "sif /upper%s uid 0\nsif /upper%s gid 0\nsif /upper%s mode 040755\n", d, d, d)
		}
		if f.link != "" {
			if err := os.Symlink(f.link, host); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(host, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "sif /upper%s uid 0\nsif /upper%s gid 0\nsif /upper%s mode 0100%o\n", f.path, f.path, f.path, f.mode)
	}
	img := filepath.Join(dir, "overlay.ext4")
	mustRun(t, "mkfs.ext4", "-F", "-q", "-L", bundle.LabelOverlay, "-d", stage, img, "1G")
	scriptFile := filepath.Join(dir, "ovl.debugfs")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "debugfs", "-w", "-f", scriptFile, img)
	return img
}

// qemuArgs boots the bundle kernel the way banger's qemu driver does, with
// the disks in Firecracker's order (rootfs, overlay, work).
func qemuArgs(kernel, initrd, console string, disks [][2]string, tap string) []string {
	args := []string{"qemu-system-x86_64",
		"-M", "microvm,acpi=on", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
		"-serial", "file:" + console,
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 reboot=k panic=-1" + tcgTSCArg(),
	}
	for i, d := range disks {
		id := fmt.Sprintf("d%d", i)
		drive := fmt.Sprintf("id=%s,file=%s,format=raw,if=none", id, d[0])
		if d[1] == "ro" {
			drive += ",readonly=on"
		}
		args = append(args, "-drive", drive, "-device", "virtio-blk-device,drive="+id)
	}
	if tap != "" {
		args = append(args,
			"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
			"-device", "virtio-net-device,netdev=n0,mac="+bootGuestMAC)
	}
	return args
}

// startQemu starts qemu (inside ns when set); the returned channel closes
// when it exits. The test's cleanup kills it.
// tcgTSCArg works around a TCG boot hang on a busy host: the guest kernel
// calibrates its TSC against the emulated PIT, which fails when the vCPU
// thread is descheduled; with no TSC frequency it then waits forever for
// timer ticks. Under TCG the guest TSC is the host's, so telling the kernel
// the host's frequency (tsc_early_khz) skips the calibration.
func tcgTSCArg() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			var mhz float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f", &mhz); err == nil && mhz > 100 {
				return fmt.Sprintf(" tsc_early_khz=%d", int(mhz*1000))
			}
			return ""
		}
	}
	return ""
}

func startQemu(t *testing.T, ns string, args []string, logPath string) <-chan struct{} {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
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
	dir := t.TempDir()
	ns, tap := netns(t)

	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger-test-host", "-f", filepath.Join(dir, "host"))
	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger-test-client", "-f", filepath.Join(dir, "client"))
	hostKey, _ := os.ReadFile(filepath.Join(dir, "host"))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	clientPub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(bootGuestIP+" "+string(hostPub)), 0o600)

	files := []guestFile{
		{path: "/etc/hostname", data: "boot-test\n", mode: 0o644},
		{path: "/etc/systemd/network/10-banger.network", mode: 0o644, data: "[Match]\nMACAddress=" + bootGuestMAC +
			"\n\n[Network]\nAddress=" + bootGuestIP + "/24\nGateway=172.31.0.1\n"},
		{path: "/etc/ssh/sshd_config.d/banger.conf", mode: 0o644,
			data: "HostKey /etc/ssh/ssh_host_ed25519_key\nAuthorizedKeysFile /etc/ssh/banger_authorized_keys\n"},
		{path: "/etc/ssh/ssh_host_ed25519_key", data: string(hostKey), mode: 0o600},
		{path: "/etc/ssh/ssh_host_ed25519_key.pub", data: string(hostPub), mode: 0o644},
		{path: "/etc/ssh/banger_authorized_keys", data: string(clientPub), mode: 0o644},
		{path: "/etc/systemd/system/root.mount", mode: 0o644, data: "[Unit]\nDescription=banger work disk\n\n" +
			"[Mount]\nWhat=/dev/disk/by-label/" + bundle.LabelWork + "\nWhere=/root\nType=ext4\n\n[Install]\nWantedBy=local-fs.target\n"},
		{path: "/etc/systemd/system/local-fs.target.wants/root.mount", link: "../root.mount"},
	}
	overlay := overlayDisk(t, dir, files)
	work := filepath.Join(dir, "work.ext4")
	mustRun(t, "cp", "--sparse=always", bundle.Path(bdir, m.WorkSeed), work)

	kernel := bundle.Path(bdir, m.KernelELF)
	if os.Getenv("BANGER_TEST_BZIMAGE_BOOT") == "1" {
		kernel = bundle.Path(bdir, m.KernelImage)
	}
	console := filepath.Join(dir, "console.log")
	args := qemuArgs(kernel, bundle.Path(bdir, m.Initrd), console,
		[][2]string{{bundle.Path(bdir, m.Rootfs), "ro"}, {overlay, "rw"}, {work, "rw"}}, tap)
	start := time.Now()
	exited := startQemu(t, ns, args, filepath.Join(dir, "qemu.log"))

	sshArgs := []string{"ip", "netns", "exec", ns, "ssh", "-i", filepath.Join(dir, "client"),
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "root@" + bootGuestIP}
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
			t.Fatalf("qemu exited before SSH answered\nconsole:\n%s\nqemu:\n%s", tail(console, 40), tail(filepath.Join(dir, "qemu.log"), 10))
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
		{"hostname", regexp.MustCompile(`^boot-test$`)},
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
	dir := t.TempDir()
	console := filepath.Join(dir, "console.log")
	args := qemuArgs(bundle.Path(bdir, m.KernelELF), bundle.Path(bdir, m.Initrd), console,
		[][2]string{{bundle.Path(bdir, m.Rootfs), "ro"}}, "")
	start := time.Now()
	exited := startQemu(t, "", args, filepath.Join(dir, "qemu.log"))
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
