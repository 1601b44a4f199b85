package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/bundle/cpio"
	"banger/internal/testenv"
)

// fakeModule is enough of an ELF object for the initrd builder's checks.
var fakeModule = []byte("\x7fELF fake module")

func writeModulesTree(t *testing.T, compressXZ bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "6.1.0-test")
	dep := sampleModulesDep
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		p := filepath.Join(dir, mod)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := append([]byte(nil), fakeModule...)
		data = append(data, ModuleName(mod)...)
		switch {
		case strings.HasSuffix(mod, ".xz"):
			testenv.RequireOrSkip(t, "xz (not installed)", compressXZ)
			out, err := exec.Command("sh", "-c", "printf '%s' \"$0\" | xz -c", string(data)).Output()
			if err != nil {
				t.Fatalf("xz: %v", err)
			}
			data = out
		case strings.HasSuffix(mod, ".zst"):
			data = []byte("not really zstd; never read")
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/ext4/ext4.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func staticBusybox(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if b, err := os.ReadFile(p); err == nil && checkStatic(b) == nil {
			return p
		}
	}
	testenv.RequireOrSkip(t, "a static busybox (apt-get install busybox-static)", false)
	return ""
}

func TestWriteInitrd(t *testing.T) {
	_, xzErr := exec.LookPath("xz")
	dir := writeModulesTree(t, xzErr == nil)
	spec := InitrdSpec{
		Busybox: staticBusybox(t), ModulesDir: dir, Release: "6.1.0-test",
		Modules: append([]string{"ext4"}, InitrdModules...),
	}
	var a, b bytes.Buffer
	if err := WriteInitrd(context.Background(), spec, &a); err != nil {
		t.Fatal(err)
	}
	if err := WriteInitrd(context.Background(), spec, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two builds from the same inputs differ")
	}

	zr, err := gzip.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(zr)
	members := map[string]*cpio.Header{}
	contents := map[string][]byte{}
	var seen []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if parent := filepath.Dir(h.Name); parent != "." && members[parent] == nil {
			t.Errorf("%s comes before its directory %s", h.Name, parent)
		}
		data, _ := io.ReadAll(r)
		members[h.Name], contents[h.Name] = h, data
		seen = append(seen, h.Name)
	}
	for _, want := range []string{"init", "bin/busybox", "dev/console", "newroot", "etc/banger/modules",
		"lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko"} {
		if members[want] == nil {
			t.Errorf("initrd lacks %s (has %v)", want, seen)
		}
	}
	if h := members["init"]; h == nil || h.Mode&0o111 == 0 || !bytes.Equal(contents["init"], initScript) {
		t.Error("init is missing, not executable or not the embedded script")
	}
	if h := members["dev/console"]; h == nil || h.DevMajor != 5 || h.DevMinor != 1 {
		t.Errorf("dev/console = %+v, want char 5:1", h)
	}
	blk := contents["lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko"]
	if !bytes.HasPrefix(blk, fakeModule) || !strings.HasSuffix(string(blk), "virtio_blk") {
		t.Errorf("virtio_blk.ko was not decompressed: %q", blk)
	}
	list := strings.Fields(string(contents["etc/banger/modules"]))
	if len(list) != len(InitrdModules) {
		t.Fatalf("module list has %d entries, want %d: %v", len(list), len(InitrdModules), list)
	}
	for i, p := range list {
		if ModuleName(p) != InitrdModules[i] || !strings.HasPrefix(p, "/lib/modules/6.1.0-test/") {
			t.Errorf("module %d = %s, want %s under /lib/modules/6.1.0-test", i, p, InitrdModules[i])
		}
		if members[strings.TrimPrefix(p, "/")] == nil {
			t.Errorf("listed module %s is not in the archive", p)
		}
	}
}

func TestWriteInitrdRejectsDynamicBusybox(t *testing.T) {
	dir := writeModulesTree(t, true)
	err := WriteInitrd(context.Background(), InitrdSpec{Busybox: "/bin/ls", ModulesDir: dir, Release: "x", Modules: []string{"overlay"}}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("err = %v, want a dynamically-linked error", err)
	}
}

// runInitLib runs a snippet against init.sh's functions under busybox sh
// (the initrd's shell), with findfs/insmod/reboot replaced by shell
// functions driven by FAKE_* variables.
func runInitLib(t *testing.T, env []string, snippet string) string {
	t.Helper()
	sh := staticBusybox(t)
	script := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(script, initScript, 0o755); err != nil {
		t.Fatal(err)
	}
	stubs := `
findfs() {
	case "$1" in
	LABEL=banger-ovl) [ -n "$FAKE_OVL" ] && echo "$FAKE_OVL" ;;
	LABEL=banger-work) [ -n "$FAKE_WORK" ] && echo "$FAKE_WORK" ;;
	LABEL=banger-root) [ -n "$FAKE_ROOT" ] && echo "$FAKE_ROOT" ;;
	*) return 1 ;;
	esac
}
insmod() { echo "insmod $1" >>"$FAKE_LOG"; [ "$1" != /bad.ko ]; }
reboot() { echo "reboot $*"; exit 0; }
`
	cmd := exec.Command(sh, "sh", "-c", ". "+script+"\n"+stubs+snippet)
	cmd.Env = append([]string{"BANGER_INIT_LIB=1", "PATH=/usr/bin:/bin"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("init snippet failed: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestInitPickDisks(t *testing.T) {
	pick := `pick_disks /dev/vda /dev/vdb /dev/vdc; echo "base=$BASE ovl=$OVL work=$WORK"`
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"firecracker order: rootfs, overlay, work",
			[]string{"FAKE_OVL=/dev/vdb", "FAKE_WORK=/dev/vdc"}, "base=/dev/vda ovl=/dev/vdb work=/dev/vdc"},
		{"base is whichever disk is not overlay or work",
			[]string{"FAKE_OVL=/dev/vda", "FAKE_WORK=/dev/vdb"}, "base=/dev/vdc ovl=/dev/vda work=/dev/vdb"},
		{"banger-root label wins over position",
			[]string{"FAKE_OVL=/dev/vda", "FAKE_ROOT=/dev/vdc"}, "base=/dev/vdc ovl=/dev/vda work="},
		{"no overlay disk leaves OVL empty",
			[]string{"FAKE_WORK=/dev/vdb"}, "base=/dev/vda ovl= work=/dev/vdb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runInitLib(t, c.env, pick); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	got := runInitLib(t, []string{"FAKE_OVL=/dev/vda", "FAKE_WORK=/dev/vdb"},
		`pick_disks /dev/vda /dev/vdb; echo "base=[$BASE]"`)
	if got != "base=[]" {
		t.Errorf("only overlay and work disks: got %q, want no base", got)
	}
}

func TestInitLoadModulesInOrderAndDie(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "modules")
	logf := filepath.Join(dir, "log")
	if err := os.WriteFile(list, []byte("/a.ko\n\n/bad.ko\n/b.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runInitLib(t, []string{"FAKE_LOG=" + logf}, "load_modules "+list)
	if !strings.Contains(out, "banger-init: warning: insmod /bad.ko failed") {
		t.Errorf("no warning for a failed insmod: %q", out)
	}
	got, _ := os.ReadFile(logf)
	if string(got) != "insmod /a.ko\ninsmod /bad.ko\ninsmod /b.ko\n" {
		t.Errorf("insmod order: %q", got)
	}
	out = runInitLib(t, nil, `die "no overlay disk"; echo not reached`)
	if !strings.Contains(out, "banger-init: error: no overlay disk") || !strings.Contains(out, "reboot -f") || strings.Contains(out, "not reached") {
		t.Errorf("die output: %q", out)
	}
}

func TestInitMountWork(t *testing.T) {
	root := t.TempDir()
	logf := filepath.Join(t.TempDir(), "log")
	stub := `mount() { echo "mount $*" >>"$FAKE_LOG"; [ -z "$FAKE_MOUNT_FAILS" ]; }
`
	out := runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+`WORK=/dev/vdc; mount_work `+root)
	got, _ := os.ReadFile(logf)
	if want := "mount -t ext4 /dev/vdc " + root + "/root\n"; string(got) != want {
		t.Errorf("mount calls = %q, want %q (output %q)", got, want, out)
	}
	if fi, err := os.Stat(filepath.Join(root, "root")); err != nil || !fi.IsDir() {
		t.Errorf("mount_work did not create the /root mount point: %v", err)
	}

	os.Remove(logf)
	out = runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+`WORK=; mount_work `+root+`; echo done`)
	if got, _ := os.ReadFile(logf); len(got) != 0 || out != "done" {
		t.Errorf("no work disk: mount calls %q, output %q", got, out)
	}

	out = runInitLib(t, []string{"FAKE_LOG=" + logf, "FAKE_MOUNT_FAILS=1"}, stub+`WORK=/dev/vdc; mount_work `+root+`; echo booting on`)
	if !strings.Contains(out, "banger-init: warning: cannot mount the work disk /dev/vdc at /root") || !strings.Contains(out, "booting on") {
		t.Errorf("a failed work mount must warn and go on: %q", out)
	}
}

func TestInitNetUp(t *testing.T) {
	dir := t.TempDir()
	netdir := filepath.Join(dir, "net")
	for name, mac := range map[string]string{"lo": "00:00:00:00:00:00", "eth0": "52:54:00:12:34:56"} {
		os.MkdirAll(filepath.Join(netdir, name), 0o755)
		os.WriteFile(filepath.Join(netdir, name, "address"), []byte(mac+"\n"), 0o644)
	}
	unit := filepath.Join(dir, "10-banger.network")
	os.WriteFile(unit, []byte("# Managed by banger; local edits are overwritten.\n[Match]\nMACAddress=52:54:00:12:34:56\n\n"+
		"[Network]\nAddress=172.30.0.5/24\nGateway=172.30.0.1\nDNS=172.30.0.1\nLinkLocalAddressing=no\n"), 0o644)
	logf := filepath.Join(dir, "log")
	stub := `ip() { echo "ip $*" >>"$FAKE_LOG"; case "$*" in *"$FAKE_IP_FAILS"*) [ -z "$FAKE_IP_FAILS" ] ;; esac; }
`
	out := runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"net_up "+unit+" "+netdir)
	got, _ := os.ReadFile(logf)
	want := "ip link set eth0 up\nip addr add 172.30.0.5/24 dev eth0\nip route add default via 172.30.0.1 dev eth0\n"
	if string(got) != want || out != "" {
		t.Errorf("ip calls = %q, want %q (output %q)", got, want, out)
	}

	os.Remove(logf)
	out = runInitLib(t, []string{"FAKE_LOG=" + logf, "FAKE_IP_FAILS=addr add"}, stub+"net_up "+unit+" "+netdir+"; echo booting on")
	if got, _ := os.ReadFile(logf); strings.Contains(string(got), "route") ||
		!strings.Contains(out, "banger-init: warning: cannot configure eth0 (172.30.0.5/24)") || !strings.Contains(out, "booting on") {
		t.Errorf("failed address: ip calls %q, output %q", got, out)
	}

	os.Remove(logf)
	os.WriteFile(unit, []byte("[Match]\nMACAddress=52:54:00:ff:ff:ff\n[Network]\nAddress=172.30.0.5/24\n"), 0o644)
	out = runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"net_up "+unit+" "+netdir)
	if got, _ := os.ReadFile(logf); len(got) != 0 || !strings.Contains(out, "no interface with MAC 52:54:00:ff:ff:ff") {
		t.Errorf("unknown MAC: ip calls %q, output %q", got, out)
	}

	out = runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"net_up "+filepath.Join(dir, "absent")+" "+netdir+"; echo ok")
	if got, _ := os.ReadFile(logf); len(got) != 0 || out != "ok" {
		t.Errorf("no network file: ip calls %q, output %q", got, out)
	}
}

func TestInitNetFile(t *testing.T) {
	root := t.TempDir()
	old := root + "/etc/systemd/network/10-banger.network"
	if got := runInitLib(t, nil, "net_file "+root); got != old {
		t.Errorf("without /etc/banger/network: %q, want the networkd file %q", got, old)
	}
	os.MkdirAll(filepath.Join(root, "etc/banger"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/banger/network"), []byte("MACAddress=52:54:00:12:34:56\n"), 0o644)
	if got, want := runInitLib(t, nil, "net_file "+root), root+"/etc/banger/network"; got != want {
		t.Errorf("net_file = %q, want %q", got, want)
	}
}

func TestInitSetHostname(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	stub := `hostname() { echo "hostname $*" >>"$FAKE_LOG"; }
`
	f := filepath.Join(dir, "hostname")
	for _, tc := range []struct{ content, call, warn string }{
		{"calm-otter\n", "hostname calm-otter\n", ""},
		{"calm-otter", "hostname calm-otter\n", ""}, // no final newline
		{"Calm;reboot\n", "", "not a host name"},
		{"-x\n", "", "not a host name"},
		{"\n", "", "not a host name"},
	} {
		os.Remove(logf)
		os.WriteFile(f, []byte(tc.content), 0o644)
		out := runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"set_hostname "+f+"; echo booting on")
		got, _ := os.ReadFile(logf)
		if string(got) != tc.call || !strings.Contains(out, tc.warn) || !strings.HasSuffix(out, "booting on") {
			t.Errorf("%q: hostname calls %q, output %q; want calls %q and %q", tc.content, got, out, tc.call, tc.warn)
		}
	}
	os.Remove(logf)
	out := runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"set_hostname "+filepath.Join(dir, "absent")+"; echo ok")
	if got, _ := os.ReadFile(logf); len(got) != 0 || out != "ok" {
		t.Errorf("no hostname file: calls %q, output %q", got, out)
	}
}

func TestInitBindDocker(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "log")
	stub := `mount() { echo "mount $*" >>"$FAKE_LOG"; [ -z "$FAKE_MOUNT_FAILS" ]; }
`
	root := t.TempDir()
	out := runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"bind_docker "+root+"; echo ok")
	if got, _ := os.ReadFile(logf); len(got) != 0 || out != "ok" {
		t.Errorf("no dockerd: mount calls %q, output %q", got, out)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/docker")); err == nil {
		t.Error("bind_docker created /var/lib/docker in a root without Docker")
	}
	for _, bin := range []string{"usr/bin/dockerd", "usr/sbin/dockerd"} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, filepath.Dir(bin)), 0o755)
		// A dangling absolute link, as a symlink into the guest's own
		// tree looks from the initrd.
		os.Symlink("/nonexistent/dockerd", filepath.Join(root, bin))
		os.Remove(logf)
		runInitLib(t, []string{"FAKE_LOG=" + logf}, stub+"bind_docker "+root)
		got, _ := os.ReadFile(logf)
		if want := "mount --bind /run/banger/ovl/docker " + root + "/var/lib/docker\n"; string(got) != want {
			t.Errorf("%s: mount calls %q, want %q", bin, got, want)
		}
		if fi, err := os.Stat(filepath.Join(root, "var/lib/docker")); err != nil || !fi.IsDir() {
			t.Errorf("%s: no /var/lib/docker mount point: %v", bin, err)
		}
	}
	os.Remove(logf)
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/dockerd"), nil, 0o755)
	out = runInitLib(t, []string{"FAKE_LOG=" + logf, "FAKE_MOUNT_FAILS=1"}, stub+"bind_docker "+root+"; echo booting on")
	if !strings.Contains(out, "banger-init: warning: cannot put /var/lib/docker on the overlay disk") || !strings.HasSuffix(out, "booting on") {
		t.Errorf("a failed bind must warn and go on: %q", out)
	}
}

func TestInitCleanTmp(t *testing.T) {
	root := t.TempDir()
	keep := filepath.Join(t.TempDir(), "outside")
	os.MkdirAll(filepath.Join(root, "tmp", "tmux-0"), 0o700)
	os.MkdirAll(keep, 0o755)
	os.WriteFile(filepath.Join(keep, "file"), []byte("x"), 0o644)
	for _, f := range []string{"tmp/a.txt", "tmp/.hidden", "tmp/..dots", "tmp/tmux-0/default", "etc/keep"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
		os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
	}
	os.Symlink(keep, filepath.Join(root, "tmp", "link"))
	runInitLib(t, nil, "clean_tmp "+root)
	left, _ := os.ReadDir(filepath.Join(root, "tmp"))
	if len(left) != 0 {
		t.Errorf("/tmp still holds %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "keep")); err != nil {
		t.Errorf("clean_tmp touched /etc: %v", err)
	}
	if _, err := os.Stat(filepath.Join(keep, "file")); err != nil {
		t.Errorf("clean_tmp followed a link out of /tmp: %v", err)
	}

	// A symlinked /tmp is left alone.
	root2 := t.TempDir()
	os.Symlink(keep, filepath.Join(root2, "tmp"))
	runInitLib(t, nil, "clean_tmp "+root2)
	if _, err := os.Stat(filepath.Join(keep, "file")); err != nil {
		t.Errorf("clean_tmp emptied the target of a symlinked /tmp: %v", err)
	}
}
