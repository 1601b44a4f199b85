package build

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/bundle"
	"banger/internal/image/artifacts"
	"banger/internal/testenv"
	"banger/internal/xbps"
	"banger/internal/xbps/xbpstest"
)

// voidTestPackages is a tiny Void package set in the real XBPS format:
// the shape of base-minimal, bash, openssh, docker, with a real shell
// (the host's static busybox as dash) so package scripts run in the
// chroot as they would with Void's own dash.
func voidTestPackages(t *testing.T) []xbpstest.Pkg {
	busybox, err := exec.LookPath("busybox")
	if err == nil {
		out, _ := exec.Command("file", "-L", busybox).Output()
		if !strings.Contains(string(out), "statically linked") {
			err = errors.New("not static")
		}
	}
	testenv.RequireOrSkip(t, "a static busybox (apt-get install busybox-static)", err == nil)
	sh, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	f := func(p, data string) xbpstest.File { return xbpstest.File{Path: p, Data: []byte(data)} }
	x := func(p, data string) xbpstest.File { return xbpstest.File{Path: p, Data: []byte(data), Mode: 0o755} }
	d := func(p string, mode int64) xbpstest.File { return xbpstest.File{Path: p, Dir: true, Mode: mode} }
	l := func(p, target string) xbpstest.File { return xbpstest.File{Path: p, Link: target} }
	return []xbpstest.Pkg{
		{Name: "base-files", Version: "0.144_1", Files: []xbpstest.File{
			d("usr", 0o755), d("usr/bin", 0o755), d("usr/lib", 0o755), d("etc", 0o755), d("dev", 0o755),
			d("var", 0o755), d("var/lib", 0o755), d("tmp", 0o1777),
			l("bin", "usr/bin"), l("sbin", "usr/bin"), l("lib", "usr/lib"), l("var/run", "/run"),
			d("root", 0o700), f("root/.bash_profile", "# root's profile\n"),
			f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:99:99:Unprivileged User:/dev/null:/bin/false\n"),
			f("etc/shells", "/bin/sh\n"),
		}},
		{Name: "dash", Version: "0.5.12_1", Depends: []string{"base-files>=0.77"},
			Alternatives: map[string][]string{"sh": {"/usr/bin/sh:/usr/bin/dash"}},
			Files:        []xbpstest.File{{Path: "usr/bin/dash", Data: sh, Mode: 0o755}}},
		{Name: "runit-void", Version: "20231124_1", Depends: []string{"base-files>=0"}, Files: []xbpstest.File{
			x("usr/bin/runsvdir", "#!/bin/sh\n"), x("usr/bin/runit-init", "init\n"),
			x("usr/bin/reboot", "reboot\n"), x("usr/bin/poweroff", "poweroff\n"),
			x("etc/sv/dhcpcd/run", "#!/bin/sh\nexec dhcpcd\n"),
			l("etc/runit/runsvdir/default/dhcpcd", "/etc/sv/dhcpcd"),
			x("etc/sv/agetty-tty1/run", "#!/bin/sh\nexec agetty tty1\n"),
			x("etc/sv/agetty-ttyS0/run", "#!/bin/sh\nexec agetty ttyS0\n"),
			l("etc/runit/runsvdir/default/agetty-tty1", "/etc/sv/agetty-tty1"),
		}},
		{Name: "base-minimal", Version: "0.1_1", Depends: []string{"base-files>=0", "dash>=0", "runit-void>=0", "awk>=0"}},
		{Name: "iproute2", Version: "6.10.0_1", Files: []xbpstest.File{x("usr/bin/ss", "ss\n")}},
		{Name: "mawk", Version: "1.3.4_1", Provides: []string{"awk-0_1"}, Files: []xbpstest.File{x("usr/bin/mawk", "mawk\n")}},
		{Name: "bash", Version: "5.2.21_1", Depends: []string{"base-files>=0"},
			Alternatives: map[string][]string{"sh": {"/usr/bin/sh:/usr/bin/bash"}},
			Files:        []xbpstest.File{x("usr/bin/bash", "#!fake bash\n")}},
		{Name: "openssh", Version: "9.8p1_1", Depends: []string{"base-files>=0"},
			Install: []byte("#!/bin/sh\nACTION=$1\ncase $ACTION in post) echo \"$ACTION $2 $3 $4 $6\" > /var/lib/openssh-configured; echo sshd >/dev/null; echo $$ > /var/lib/openssh-script-pid;; esac\n"),
			Files: []xbpstest.File{
				x("usr/bin/sshd", "fake sshd\n"),
				{Path: "usr/bin/ssh-keysign", Data: []byte("suid\n"), Mode: 0o4711},
				f("etc/ssh/sshd_config", "# Void's sshd_config\nPermitRootLogin no\n"),
				{Path: "etc/ssh/ssh_host_ed25519_key", Data: []byte("must not ship\n"), Mode: 0o600},
				l("usr/sbin", "bin"),
				x("etc/sv/sshd/run", "#!/bin/sh\nssh-keygen -A\nexec sshd -D\n"),
				l("etc/runit/runsvdir/default/sshd", "/etc/sv/sshd"),
				{Path: "var/lib/sshd-owned", Data: []byte("x\n"), UID: 22, GID: 23},
			}},
		{Name: "docker", Version: "27.3.1_1", Depends: []string{"base-files>=0", "failing-script>=0"}, Files: []xbpstest.File{
			x("usr/bin/dockerd", "fake dockerd\n"),
			x("etc/sv/docker/run", "#!/bin/sh\nexec dockerd\n"),
		}},
		{Name: "failing-script", Version: "1_1", Install: []byte("#!/bin/sh\nexit 3\n")},
		{Name: "docker-compose", Version: "2.29.7_1", Depends: []string{"docker>=0"}, Files: []xbpstest.File{x("usr/libexec/docker/cli-plugins/docker-compose", "compose\n")}},
	}
}

const voidTestPackageList = "# test set\nbase-minimal\nbash\nopenssh\niproute2\ndocker\ndocker-compose\n"

// fakeBundle is a runtime bundle with just what the Void builder reuses.
func fakeBundle(t *testing.T) string {
	dir := t.TempDir()
	rel := "6.1.0-test-amd64"
	mods := filepath.Join(dir, bundle.ModulesDirName, rel)
	os.MkdirAll(filepath.Join(mods, "kernel"), 0o755)
	os.WriteFile(filepath.Join(mods, "modules.dep"), []byte("kernel/br_netfilter.ko:\n"), 0o644)
	os.WriteFile(filepath.Join(mods, "kernel", "br_netfilter.ko"), []byte("module"), 0o644)
	os.WriteFile(filepath.Join(dir, bundle.AgentName), []byte("#!agent binary\n"), 0o755)
	m := bundle.Meta{Version: 1, KernelRelease: rel, ModulesDir: bundle.ModulesDirName + "/" + rel, Agent: bundle.AgentName}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, bundle.FileName), b, 0o644)
	return dir
}

func requireVoidBuild(t *testing.T) {
	t.Helper()
	testenv.RequireOrSkip(t, "root (package ownership, chroot)", os.Geteuid() == 0)
	for _, tool := range []string{"mkfs.ext4", "debugfs", "chroot", "unshare"} {
		_, err := exec.LookPath(tool)
		if err != nil {
			_, err = os.Stat("/usr/sbin/" + tool)
		}
		testenv.RequireOrSkip(t, tool, err == nil)
	}
}

type voidFixture struct {
	repo, bundle, pkgList, out string
	keyFP                      string // the fingerprint of the key the repository is signed with
}

// newVoidFixture is a signed test repository, a fake bundle and a package
// list.
func newVoidFixture(t *testing.T) voidFixture {
	return newVoidFixtureKey(t, true)
}

func newVoidFixtureKey(t *testing.T, signed bool) voidFixture {
	fx := voidFixture{repo: t.TempDir(), bundle: fakeBundle(t), out: filepath.Join(t.TempDir(), "runtime")}
	var key *rsa.PrivateKey
	if signed {
		var err error
		if key, err = xbpstest.NewKey(); err != nil {
			t.Fatal(err)
		}
		sk, err := ssh.NewPublicKey(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		fx.keyFP = ssh.FingerprintLegacyMD5(sk)
	}
	if _, err := xbpstest.Repo(fx.repo, voidTestPackages(t), key); err != nil {
		t.Fatal(err)
	}
	fx.pkgList = filepath.Join(t.TempDir(), "packages.void")
	os.WriteFile(fx.pkgList, []byte(voidTestPackageList), 0o644)
	return fx
}

func (fx voidFixture) options(t *testing.T, mirror string) VoidOptions {
	return VoidOptions{Mirror: mirror, Packages: fx.pkgList, Bundle: fx.bundle,
		Out: filepath.Join(fx.out, VoidRootfsName), CacheDir: t.TempDir(), TrustedKeys: []string{fx.keyFP},
		Progress: testWriter{t}, Log: testWriter{t}}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func debugfsOut(t *testing.T, image, cmd string) string {
	t.Helper()
	c := exec.Command(tool("debugfs"), "-R", cmd, image)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("debugfs %s: %v\n%s", cmd, err, stderr.String())
	}
	// debugfs reports a missing file on stderr only.
	return string(out) + strings.TrimPrefix(stderr.String(), strings.SplitAfter(stderr.String(), "\n")[0])
}

func TestVoidRootfsEndToEnd(t *testing.T) {
	requireVoidBuild(t)
	fx := newVoidFixture(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(fx.repo)))
	defer srv.Close()
	for _, c := range []struct{ name, mirror string }{{"http", srv.URL}, {"directory", fx.repo}} {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(fx.out)
			res, err := VoidRootfs(context.Background(), fx.options(t, c.mirror))
			if err != nil {
				t.Fatal(err)
			}
			checkVoidImage(t, fx, res)
		})
	}
}

func checkVoidImage(t *testing.T, fx voidFixture, res *VoidResult) {
	img, seed := res.Rootfs, res.WorkSeed
	if img != filepath.Join(fx.out, VoidRootfsName) || seed != filepath.Join(fx.out, VoidWorkSeedName) {
		t.Fatalf("outputs %s %s", img, seed)
	}
	want := []string{"base-files", "dash", "runit-void", "mawk", "base-minimal", "bash", "openssh", "iproute2", "failing-script", "docker", "docker-compose"}
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("install order %v, want %v", got, want)
	}
	if res.Key == nil || res.Key.Fingerprint != fx.keyFP {
		t.Fatalf("verified with key %+v, want %s", res.Key, fx.keyFP)
	}
	if len(res.ScriptsRun) != 1 || res.ScriptsRun[0] != "openssh-9.8p1_1" || len(res.ScriptsFailed) != 1 || !strings.HasPrefix(res.ScriptsFailed[0], "failing-script-1_1:") {
		t.Fatalf("scripts run %v, failed %v", res.ScriptsRun, res.ScriptsFailed)
	}
	// Only the two images are left in the output directory.
	ents, _ := os.ReadDir(fx.out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != VoidRootfsName+" "+VoidWorkSeedName {
		t.Fatalf("output directory holds %v", names)
	}
	if l, err := bundle.Ext4Label(img); err != nil || l != bundle.LabelRoot {
		t.Fatalf("rootfs label %q %v", l, err)
	}
	if l, err := bundle.Ext4Label(seed); err != nil || l != bundle.LabelWork {
		t.Fatalf("seed label %q %v", l, err)
	}

	cat := func(p string) string { return debugfsOut(t, img, "cat "+p) }
	stat := func(p string) string { return debugfsOut(t, img, "stat "+p) }
	for p, want := range map[string]string{
		"/etc/passwd":                       "root:x:0:0:root:/root:/bin/bash\nnobody:x:99:99:Unprivileged User:/dev/null:/bin/false\n",
		"/usr/local/bin/banger-vsock-agent": "#!agent binary\n",
		"/var/lib/openssh-configured":       "post openssh 9.8p1_1 no x86_64\n",
		// PID 1: the script ran in its own PID namespace (and network, UTS
		// and IPC namespaces with it).
		"/var/lib/openssh-script-pid":                              "1\n",
		"/usr/lib/modules/6.1.0-test-amd64/kernel/br_netfilter.ko": "module",
	} {
		if got := cat(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]string{
		"/etc/shells":          "/bin/bash",
		"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf",
		"/etc/ssh/sshd_config.d/00-banger-image.conf": "PermitRootLogin prohibit-password",
		"/etc/sv/ssh/run":                        "exec /usr/sbin/sshd -D -e",
		"/etc/sv/banger-vsock-agent/run":         "exec " + agent.BinaryPath,
		"/etc/sv/docker/run":                     "exec dockerd",
		"/etc/sysctl.d/90-banger-docker.conf":    "net.ipv4.ip_forward = 1",
		"/etc/modules-load.d/banger-docker.conf": "br_netfilter",
	} {
		if got := cat(p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", p, got, want)
		}
	}
	// Links: the distro's /bin/sh (dash, the first provider of "sh" in
	// install order, not bash), the usrmerge links, enabled services.
	for p, want := range map[string]string{
		"/usr/bin/sh":                        `Fast link dest: "dash"`,
		"/bin":                               `Fast link dest: "usr/bin"`,
		"/var/run":                           `Fast link dest: "/run"`,
		"/etc/runit/runsvdir/default/ssh":    `Fast link dest: "/etc/sv/ssh"`,
		"/usr/bin/init":                      `Fast link dest: "runit-init"`,
		"/etc/runit/runsvdir/current":        `Fast link dest: "default"`,
		"/etc/runit/runsvdir/default/docker": `Fast link dest: "/etc/sv/docker"`,
		"/etc/runit/runsvdir/default/banger-vsock-agent": `Fast link dest: "/etc/sv/banger-vsock-agent"`,
		"/etc/runit/runsvdir/default/agetty-ttyS0":       `Fast link dest: "/etc/sv/agetty-ttyS0"`,
		// Modes, set-id bits and owners as the packages record them.
		"/usr/bin/ssh-keysign":              "Mode:  04711",
		"/var/lib/sshd-owned":               "User:    22   Group:    23",
		"/root":                             "Mode:  0700",
		"/tmp":                              "Mode:  01777",
		"/usr/local/bin/banger-vsock-agent": "Mode:  0755",
	} {
		if got := stat(p); !strings.Contains(got, want) {
			t.Errorf("stat %s: want %q in\n%s", p, want, got)
		}
	}
	for _, p := range []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/runit/runsvdir/default/agetty-tty1", "/etc/runit/runsvdir/default/sshd", "/etc/runit/runsvdir/default/dhcpcd", "/dev/null", "/.xbps-banger-INSTALL"} {
		if got := stat(p); !strings.Contains(got, "File not found") {
			t.Errorf("%s is in the image:\n%s", p, got)
		}
	}
	// The package database: xbps in the guest sees the packages, with
	// the failed script's package left to xbps-reconfigure.
	v, err := xbps.ParsePlist([]byte(cat("/var/db/xbps/pkgdb-0.38.plist")))
	if err != nil {
		t.Fatal(err)
	}
	db := v.(map[string]any)
	for name, state := range map[string]string{"openssh": "installed", "failing-script": "unpacked", "bash": "installed"} {
		if p, _ := db[name].(map[string]any); p == nil || p["state"] != state {
			t.Errorf("pkgdb %s: %v, want state %s", name, db[name], state)
		}
	}
	if alts, _ := db["_XBPS_ALTERNATIVES_"].(map[string]any); alts == nil || len(alts["sh"].([]any)) != 2 || alts["sh"].([]any)[0] != "dash" {
		t.Errorf("pkgdb alternatives %v", db["_XBPS_ALTERNATIVES_"])
	}
	if p := db["bash"].(map[string]any); p["automatic-install"] != false {
		t.Errorf("bash was requested: automatic-install %v", p["automatic-install"])
	}
	if p := db["mawk"].(map[string]any); p["automatic-install"] != true {
		t.Errorf("mawk is a dependency: automatic-install %v", p["automatic-install"])
	}
	if got := debugfsOut(t, seed, "cat /.bash_profile"); got != "# root's profile\n" {
		t.Errorf("work seed /.bash_profile = %q", got)
	}
	if got := debugfsOut(t, seed, "stat /"); !strings.Contains(got, "Mode:  0700") {
		t.Errorf("work seed root:\n%s", got)
	}
}

func TestVoidRootfsOfflineFailsFastNamingTheMirror(t *testing.T) {
	requireVoidBuild(t)
	fx := newVoidFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mirror := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	_, err = VoidRootfs(context.Background(), fx.options(t, mirror))
	if err == nil {
		t.Fatal("built against a closed port")
	}
	for _, want := range []string{"mirror " + mirror, "--mirror", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := os.Stat(fx.out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the output directory was created or touched: %v", err)
	}
}

func TestVoidRootfsRefusesBadSHA256(t *testing.T) {
	requireVoidBuild(t)
	fx := newVoidFixture(t)
	os.MkdirAll(fx.out, 0o755)
	// A previous build's images must survive a failed one.
	prev := filepath.Join(fx.out, VoidRootfsName)
	os.WriteFile(prev, []byte("previous"), 0o644)
	pkg := filepath.Join(fx.repo, "current", "openssh-9.8p1_1.x86_64.xbps")
	b, _ := os.ReadFile(pkg)
	b[len(b)-5] ^= 0xff
	os.WriteFile(pkg, b, 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(fx.repo)))
	defer srv.Close()
	_, err := VoidRootfs(context.Background(), fx.options(t, srv.URL))
	var mm *artifacts.MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "openssh-9.8p1_1") || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err %v, want a sha256 mismatch naming openssh-9.8p1_1", err)
	}
	ents, _ := os.ReadDir(fx.out)
	if len(ents) != 1 || ents[0].Name() != VoidRootfsName {
		t.Fatalf("output directory after a failed build: %v", ents)
	}
	if got, _ := os.ReadFile(prev); string(got) != "previous" {
		t.Fatalf("previous rootfs replaced: %q", got)
	}
}

// With the index and packages in artifact_mirror, a build needs no Void
// mirror at all (an offline rebuild).
func TestVoidRootfsFromArtifactMirror(t *testing.T) {
	requireVoidBuild(t)
	fx := newVoidFixture(t)
	am := t.TempDir()
	ents, _ := os.ReadDir(filepath.Join(fx.repo, "current"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(fx.repo, "current", e.Name()))
		os.WriteFile(filepath.Join(am, e.Name()), b, 0o644)
	}
	o := fx.options(t, "http://127.0.0.1:1")
	o.ArtifactMirror = am
	res, err := VoidRootfs(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.RepodataFrom != filepath.Join(am, "x86_64-repodata") {
		t.Fatalf("index from %s", res.RepodataFrom)
	}
}

func TestVoidRootfsBadInput(t *testing.T) {
	fx := voidFixture{bundle: t.TempDir(), pkgList: filepath.Join(t.TempDir(), "packages.void"), out: filepath.Join(t.TempDir(), "o")}
	os.WriteFile(fx.pkgList, []byte("bash\n"), 0o644)
	for name, c := range map[string]struct {
		mutate func(*VoidOptions)
		want   string
	}{
		"mirror":   {func(o *VoidOptions) { o.Mirror = "ftp://x" }, `mirror "ftp://x": want the root of a Void mirror`},
		"out":      {func(o *VoidOptions) { o.Out = "/tmp/x.img" }, `output "/tmp/x.img": want a rootfs image path ending in .ext4`},
		"size":     {func(o *VoidOptions) { o.Size = 1 << 20 }, "size 1048576 bytes: must be at least 256M"},
		"packages": {func(o *VoidOptions) { o.Packages = "/nonexistent" }, "package list: open /nonexistent"},
	} {
		o := fx.options(t, "")
		c.mutate(&o)
		if _, err := VoidRootfs(context.Background(), o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
}

func TestVoidRootfsRefusesUnsignedAndUntrusted(t *testing.T) {
	requireVoidBuild(t)
	unsigned := newVoidFixtureKey(t, false)
	_, err := VoidRootfs(context.Background(), unsigned.options(t, unsigned.repo))
	if err == nil || !strings.Contains(err.Error(), "not signed") || !strings.Contains(err.Error(), "--trust-key") {
		t.Errorf("unsigned repository: err %v", err)
	}
	fx := newVoidFixture(t)
	o := fx.options(t, fx.repo)
	o.TrustedKeys = nil // only Void's own key
	_, err = VoidRootfs(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "signed with key "+fx.keyFP) || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), DefaultVoidKeys[0]) {
		t.Errorf("untrusted key: err %v", err)
	}
	for _, f := range []voidFixture{unsigned, fx} {
		if _, err := os.Stat(f.out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("output directory touched: %v", err)
		}
	}
}

func TestVoidRootfsRefusesBadSignature(t *testing.T) {
	requireVoidBuild(t)
	fx := newVoidFixture(t)
	sig := filepath.Join(fx.repo, "current", "bash-5.2.21_1.x86_64.xbps.sig2")
	b, _ := os.ReadFile(sig)
	b[10] ^= 0xff
	os.WriteFile(sig, b, 0o644)
	_, err := VoidRootfs(context.Background(), fx.options(t, fx.repo))
	if err == nil || !strings.Contains(err.Error(), "package bash-5.2.21_1") || !strings.Contains(err.Error(), "signature does not verify") {
		t.Fatalf("err %v", err)
	}
	os.Remove(sig)
	_, err = VoidRootfs(context.Background(), fx.options(t, fx.repo))
	if err == nil || !strings.Contains(err.Error(), "package bash-5.2.21_1: signature") {
		t.Fatalf("missing signature: err %v", err)
	}
	if _, err := os.Stat(fx.out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output directory touched: %v", err)
	}
}

// The modules the Void image loads for Docker exist in the bundle's kernel
// (as modules, or built in).
func TestVoidDockerModulesInTheBundleKernel(t *testing.T) {
	dir := os.Getenv("BANGER_TEST_BUNDLE")
	testenv.RequireOrSkip(t, "BANGER_TEST_BUNDLE (run scripts/test-bundle.sh)", dir != "")
	meta, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	mods := filepath.Join(dir, meta.ModulesDir)
	dep, err := os.ReadFile(filepath.Join(mods, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	builtin, _ := os.ReadFile(filepath.Join(mods, "modules.builtin"))
	for _, m := range voidDockerModules {
		if !strings.Contains(string(dep), "/"+m+".ko") && !strings.Contains(string(builtin), "/"+m+".ko") {
			t.Errorf("module %s is neither in %s/modules.dep nor built in", m, mods)
		}
	}
}
