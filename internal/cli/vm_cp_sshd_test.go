package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/sshconfig"
	"banger/internal/transfer"
)

// sshdEnv is a real OpenSSH server on 127.0.0.1:22 inside a network
// namespace of its own, standing in for a guest's sshd: banger's rendered
// ssh config, ssh, scp and vm cp run against it with strict host key
// checking. It needs root, ip and an sshd binary in BANGER_TEST_SSHD (with
// sftp-server beside it or in BANGER_TEST_SFTP_SERVER); the sshd runs in a
// private mount namespace with a passwd file that has the privsep user.
type sshdEnv struct {
	ns, dir, config, knownHosts string
}

func newSSHDEnv(t *testing.T) *sshdEnv {
	t.Helper()
	sshd := os.Getenv("BANGER_TEST_SSHD")
	if sshd == "" || os.Geteuid() != 0 {
		t.Skip("needs root and an sshd binary in BANGER_TEST_SSHD")
	}
	sftp := os.Getenv("BANGER_TEST_SFTP_SERVER")
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "id_ed25519"))
	pub, _ := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	passwd, _ := os.ReadFile("/etc/passwd")
	passwd = append(passwd, []byte("sshd:x:74:65534:privsep:/run/sshd:/usr/sbin/nologin\n")...)
	os.WriteFile(filepath.Join(dir, "passwd"), passwd, 0o644)
	cfg := fmt.Sprintf("Port 22\nListenAddress 127.0.0.1\nHostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile none\n", dir, dir)
	if sftp != "" {
		cfg += "Subsystem sftp " + sftp + "\n"
	}
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)

	b := make([]byte, 4)
	rand.Read(b)
	ns := "banger-sshd-" + hex.EncodeToString(b)
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	script := fmt.Sprintf("mount --bind %s/passwd /etc/passwd && mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec %s -D -e -f %s/sshd_config", dir, sshd, dir)
	srv := exec.Command("ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	var logb bytes.Buffer
	srv.Stdout, srv.Stderr = &logb, &logb
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	e := &sshdEnv{ns: ns, dir: dir, config: filepath.Join(dir, "config"), knownHosts: filepath.Join(dir, "known_hosts")}
	os.WriteFile(e.knownHosts, []byte("banger-test "+strings.TrimSpace(string(hostPub))+"\n"), 0o600)
	body := sshconfig.Render([]sshconfig.Entry{{Name: "calm-otter", Address: "127.0.0.1", HostKeyAlias: "banger-test"}},
		sshconfig.Options{IdentityFile: filepath.Join(dir, "id_ed25519"), KnownHosts: e.knownHosts})
	if err := sshconfig.WriteFile(e.config, body, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.run(t, "ssh", "-F", e.config, "-o", "BatchMode=yes", "calm-otter", "true").code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not answer:\n%s", logb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e
}

type runResult struct {
	out  string
	code int
}

func (e *sshdEnv) run(t *testing.T, name string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.ns, name}, args...)...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return runResult{string(out), code}
}

func TestSSHConfigAndVMCpAgainstSSHD(t *testing.T) {
	e := newSSHDEnv(t)
	for _, host := range []string{"calm-otter", "calm-otter.vm"} {
		if r := e.run(t, "ssh", "-F", e.config, "-o", "BatchMode=yes", host, "id -un"); r.code != 0 || strings.TrimSpace(r.out) != "root" {
			t.Errorf("ssh -F config %s: %+v", host, r)
		}
	}
	// Strict: a known_hosts without the key refuses; no trust on first use.
	body, _ := os.ReadFile(e.config)
	empty := filepath.Join(e.dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	strict := filepath.Join(e.dir, "strict")
	os.WriteFile(strict, bytes.ReplaceAll(body, []byte(e.knownHosts), []byte(empty)), 0o600)
	if r := e.run(t, "ssh", "-F", strict, "-o", "BatchMode=yes", "calm-otter", "true"); r.code == 0 || !strings.Contains(r.out, "No ED25519 host key is known") {
		t.Errorf("ssh with no known host key: %+v", r)
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Errorf("ssh wrote a host key into the known_hosts: %q", b)
	}

	// scp (SFTP protocol where sftp-server is given, else the legacy one).
	src := filepath.Join(e.dir, "scp-src")
	os.WriteFile(src, []byte("over scp\n"), 0o644)
	scpArgs := []string{"-F", e.config, "-o", "BatchMode=yes"}
	if os.Getenv("BANGER_TEST_SFTP_SERVER") == "" {
		scpArgs = append(scpArgs, "-O")
	}
	if r := e.run(t, "scp", append(scpArgs, src, "calm-otter:"+filepath.Join(e.dir, "scp-dst"))...); r.code != 0 {
		t.Fatalf("scp: %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "scp-dst")); string(b) != "over scp\n" {
		t.Errorf("scp copied %q", b)
	}

	// vm cp over this ssh: a 20 MB file and a tree, there and back.
	var errb bytes.Buffer
	c := &copier{e: &env{io: IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errb}}, vm: api.VM{Name: "calm-otter"},
		argv: func(remote string) []string {
			return []string{"ip", "netns", "exec", e.ns, "ssh", "-F", e.config, "-o", "BatchMode=yes", "calm-otter", "--", remote}
		}}
	tree := filepath.Join(e.dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o750)
	big := make([]byte, 20<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(tree, "big"), big, 0o640)
	os.WriteFile(filepath.Join(tree, "sub", "x"), []byte("x"), 0o600)
	guest := filepath.Join(e.dir, "guest")
	os.Mkdir(guest, 0o755)
	do := func(recursive bool, args ...string) {
		t.Helper()
		plan, err := transfer.ParseArgs(args)
		if err == nil {
			if plan.Dir == transfer.Upload {
				err = c.upload(context.Background(), plan, recursive)
			} else {
				err = c.download(context.Background(), plan, recursive)
			}
		}
		if err != nil {
			t.Fatalf("vm cp %v: %v", args, err)
		}
	}
	start := time.Now()
	do(true, tree, "calm-otter:"+guest)
	back := filepath.Join(e.dir, "back")
	do(true, "calm-otter:"+filepath.Join(guest, "tree"), back)
	t.Logf("20 MB tree up and back over ssh in %s", time.Since(start).Round(time.Millisecond))
	got, _ := os.ReadFile(filepath.Join(back, "big"))
	if sha256.Sum256(got) != sha256.Sum256(big) {
		t.Errorf("20 MB file changed on the round trip")
	}
	for name, mode := range map[string]os.FileMode{"big": 0o640, "sub": 0o750 | os.ModeDir, "sub/x": 0o600} {
		if st, err := os.Stat(filepath.Join(back, name)); err != nil || st.Mode() != mode {
			t.Errorf("%s: %v %v, want %v", name, st.Mode(), err, mode)
		}
	}
	if err := c.download(context.Background(), transfer.Plan{Dir: transfer.Download, VM: "calm-otter", Srcs: []transfer.Operand{{VM: "calm-otter", Path: "/nonexistent/file"}}, Dst: transfer.Operand{Path: back}}, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing remote path: %v", err)
	}
}
