package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/agent/agentproto"
	"banger/internal/disk"
	"banger/internal/testenv"
)

// The Debian rootfs with runit as init (runit-init instead of
// systemd-sysv, which it conflicts with) that the runit end-to-end test
// boots. It is built with mmdebstrap from Debian's archive (or
// BANGER_TEST_BUNDLE_MIRROR) the first time and cached by content hash, as
// scripts/test-bundle.sh caches the test bundle, under
// ${BANGER_TEST_RUNIT_CACHE:-~/.cache/banger/test-runit}/<hash>/.
//
// Debian's runit runs /etc/rcS.d scripts in stage 1, then /etc/rc2.d
// scripts that have no /etc/sv service of the same name, then runsvdir on
// /etc/service (-> /etc/runit/runsvdir/current -> default). sshd and the
// agent run as runit services that banger writes into each VM's overlay
// (guestconfig.RunitServices); the image only brings the programs.

// runitPackages are installed on top of mmdebstrap's minbase: runit-init
// (runit as PID 1), sshd, iproute2 (ss for `vm ports`, ip), udev and kmod
// (device modules), procps (pidof, for the test).
var runitPackages = []string{"runit-init", "openssh-server", "iproute2", "udev", "kmod", "procps"}

// runitRecipe changes whenever what buildRunitRootfs does changes.
const runitRecipe = "debian-runit/v1: bookworm minbase; no ssh host keys; gettys except ttyS0 off; bundle modules and agent"

// runitRootfs returns the cached Debian runit rootfs for bundle's kernel
// and agent, building it first if needed.
func runitRootfs(t *testing.T, bundle string) string {
	t.Helper()
	var missing []string
	for _, tool := range []string{"mmdebstrap", "mkfs.ext4", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	testenv.RequireOrSkip(t, strings.Join(missing, ", ")+" (to build the Debian runit rootfs)", len(missing) == 0)

	var meta struct {
		KernelRelease string `json:"kernel_release"`
		ModulesDir    string `json:"modules_dir"`
		Agent         string `json:"agent"`
		DebianSuite   string `json:"debian_suite"`
	}
	b, err := os.ReadFile(filepath.Join(bundle, "bundle.json"))
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	if err != nil || meta.ModulesDir == "" || meta.Agent == "" || meta.KernelRelease == "" {
		t.Fatalf("bundle %s: bundle.json lacks modules_dir, agent or kernel_release (%v)", bundle, err)
	}
	suite := meta.DebianSuite
	if suite == "" {
		suite = "bookworm"
	}
	mirror := os.Getenv("BANGER_TEST_BUNDLE_MIRROR")
	agentSum, err := fileSHA256(filepath.Join(bundle, meta.Agent))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%s\n", runitRecipe, strings.Join(runitPackages, ","), suite, mirror, meta.KernelRelease, agentSum)
	hash := hex.EncodeToString(h.Sum(nil))[:16]

	cache := os.Getenv("BANGER_TEST_RUNIT_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "banger", "test-runit")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, hash)
	rootfs := filepath.Join(dir, "rootfs.ext4")

	// One build at a time per cache; a second caller waits and reuses it.
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rootfs); err == nil {
		t.Logf("Debian runit rootfs %s is cached", hash)
		return rootfs
	}
	start := time.Now()
	partial := dir + ".partial"
	os.RemoveAll(partial)
	if err := os.MkdirAll(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(partial)
	logf := filepath.Join(cache, hash+".log")
	if err := buildRunitRootfs(suite, mirror, filepath.Join(bundle, meta.ModulesDir), meta.KernelRelease,
		filepath.Join(bundle, meta.Agent), partial, logf); err != nil {
		t.Fatalf("build the Debian runit rootfs (log %s): %v", logf, err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(partial, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the Debian runit rootfs %s in %s", hash, time.Since(start).Round(time.Second))
	// Keep the four most recent builds.
	built, _ := filepath.Glob(filepath.Join(cache, "*", "rootfs.ext4"))
	sort.Slice(built, func(i, j int) bool { return modTime(built[i]).After(modTime(built[j])) })
	for i, p := range built {
		if d := filepath.Dir(p); i >= 4 && d != dir {
			os.RemoveAll(d)
			os.Remove(d + ".log")
		}
	}
	return rootfs
}

// buildRunitRootfs makes out/rootfs.ext4 (label banger-root) from a
// minbase Debian with runitPackages, the bundle's kernel modules and agent.
// Everything it runs is logged to logf.
func buildRunitRootfs(suite, mirror, modulesDir, release, agent, out, logf string) error {
	log, err := os.Create(logf)
	if err != nil {
		return err
	}
	defer log.Close()
	run := func(argv ...string) error {
		fmt.Fprintf(log, "$ %s\n", strings.Join(argv, " "))
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
		return nil
	}
	tree := filepath.Join(out, "tree")
	argv := []string{"mmdebstrap", "--variant=minbase", "--mode=root", "--format=directory",
		"--include=" + strings.Join(runitPackages, ","), "--dpkgopt=force-unsafe-io"}
	argv = append(argv, aptProxyOptions()...)
	argv = append(argv, suite, tree)
	if mirror != "" {
		argv = append(argv, mirror)
	}
	if err := run(argv...); err != nil {
		return err
	}
	defer os.RemoveAll(tree)

	// Check the package set did what the test relies on: runit is init.
	if target, err := os.Readlink(filepath.Join(tree, "sbin", "init")); err != nil || filepath.Base(target) != "runit-init" {
		return fmt.Errorf("the rootfs's /sbin/init is %q (%v), not runit-init", target, err)
	}
	if _, err := os.Stat(filepath.Join(tree, "lib", "systemd", "systemd")); err == nil {
		return fmt.Errorf("systemd got into the runit rootfs")
	}

	// No host keys in a shared image: banger injects one per VM.
	keys, _ := filepath.Glob(filepath.Join(tree, "etc", "ssh", "ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	// Gettys on VGA consoles the VM does not have would respawn forever;
	// the serial one stays, as on banger's systemd images.
	links, _ := filepath.Glob(filepath.Join(tree, "etc", "runit", "runsvdir", "default", "getty-*"))
	for _, l := range links {
		if filepath.Base(l) != "getty-ttyS0" {
			if err := os.Remove(l); err != nil {
				return err
			}
		}
	}
	for p, data := range map[string]string{
		"etc/hostname":    "banger\n",
		"etc/resolv.conf": "# written per VM by banger\n",
	} {
		dst := filepath.Join(tree, p)
		os.Remove(dst)
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(tree, "etc", "apt", "apt.conf.d", "99mmdebstrap"))
	os.Remove(filepath.Join(tree, "etc", "dpkg", "dpkg.cfg.d", "99mmdebstrap"))

	// The bundle's kernel modules (lib is usr/lib in a merged-/usr tree)
	// and the guest agent.
	mods := filepath.Join(tree, "usr", "lib", "modules")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		return err
	}
	if err := run("cp", "-a", modulesDir, filepath.Join(mods, release)); err != nil {
		return err
	}
	if err := run("install", "-D", "-m", "0755", "-o", "root", "-g", "root", agent, filepath.Join(tree, strings.TrimPrefix(agentproto.BinaryPath, "/"))); err != nil {
		return err
	}

	// The image: the tree's size plus room for packages installed later.
	du, err := exec.Command("du", "-sb", tree).Output()
	if err != nil {
		return fmt.Errorf("du %s: %w", tree, err)
	}
	fields := strings.Fields(string(du))
	size, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return fmt.Errorf("du %s: %q", tree, du)
	}
	size = (size*5/4 + 256<<20) &^ (1<<20 - 1)
	img := filepath.Join(out, "rootfs.ext4")
	if err := run("mkfs.ext4", "-q", "-F", "-L", "banger-root", "-d", tree, img, strconv.FormatInt(size>>20, 10)+"M"); err != nil {
		return err
	}
	return nil
}

// aptProxyOptions passes the host's apt proxy to mmdebstrap, as the bundle
// build does.
func aptProxyOptions() []string {
	var opts []string
	for _, key := range []string{"Acquire::http::Proxy", "Acquire::https::Proxy"} {
		out, err := exec.Command("apt-config", "shell", "V", key).Output()
		if err != nil {
			continue
		}
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "V=")
		v = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
		if v != "" {
			opts = append(opts, fmt.Sprintf("--aptopt=%s %q", key, v))
		}
	}
	return opts
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// TestDebianRunitRootfs checks the image the runit test boots, without
// booting it: runit is its init as banger detects it, systemd is absent,
// it carries no ssh host keys and has the bundle's agent. (Run on its own,
// it builds the cached image outside the VM test.)
func TestDebianRunitRootfs(t *testing.T) {
	bundle := requireVMHost(t)
	rootfs := runitRootfs(t, bundle)
	ctx := context.Background()
	init, err := disk.ResolvePath(ctx, rootfs, "/sbin/init")
	if err != nil || filepath.Base(init) != "runit-init" {
		t.Errorf("/sbin/init resolves to %q (%v), want runit-init", init, err)
	}
	for _, p := range []string{"/lib/systemd/systemd", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key", "/etc/runit/runsvdir/default/getty-tty1"} {
		if got, err := disk.ResolvePath(ctx, rootfs, p); !errors.Is(err, disk.ErrNotInImage) {
			t.Errorf("%s is in the runit rootfs (%q, %v)", p, got, err)
		}
	}
	for _, p := range []string{agentproto.BinaryPath, "/usr/sbin/sshd", "/usr/bin/sv", "/usr/bin/ss", "/etc/sv/ssh"} {
		if _, err := disk.ResolvePath(ctx, rootfs, p); err != nil {
			t.Errorf("the runit rootfs lacks %s: %v", p, err)
		}
	}
}
