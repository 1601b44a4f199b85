package guestconfig

import (
	"banger/internal/testenv"
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

func testConfig(t *testing.T) Config {
	t.Helper()
	priv, err := os.ReadFile("testdata/host_ed25519_key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile("testdata/host_ed25519_key.pub")
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:b4:00:1a:2b:3c")
	return Config{
		Hostname:       "calm-otter",
		MAC:            mac,
		Address:        netip.MustParsePrefix("172.30.0.5/24"),
		Gateway:        netip.MustParseAddr("172.30.0.1"),
		DNS:            []netip.Addr{netip.MustParseAddr("172.30.0.1"), netip.MustParseAddr("9.9.9.9")},
		AuthorizedKeys: []string{userKey(1) + " dev@laptop", userKey(2)},
		HostKey:        priv,
		HostKeyPub:     string(pub),
		AgentToken:     "5eed" + strings.Repeat("0123456789abcdef", 3) + "0123456789ab",
	}
}

// userKey is a deterministic ed25519 authorized_keys entry.
func userKey(seed byte) string {
	sk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	pk, err := ssh.NewPublicKey(sk.Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// dump renders files as one reviewable text: a header line per entry, then
// its content.
func dump(files []File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		switch {
		case f.Dir:
			fmt.Fprintf(&b, "== %s dir %04o\n", f.Path, f.Mode.Perm())
		case f.Symlink != "":
			fmt.Fprintf(&b, "== %s symlink -> %s\n", f.Path, f.Symlink)
		default:
			fmt.Fprintf(&b, "== %s file %04o\n%s", f.Path, f.Mode.Perm(), f.Content)
		}
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"default", func(*Config) {}},
		{"no-dns-custom-label", func(c *Config) { c.DNS = nil; c.WorkDiskLabel = "work_2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			tc.edit(&c)
			files, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			got := dump(files)
			golden := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func TestRenderStructure(t *testing.T) {
	files, err := Render(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]File{}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") || filepath.Clean(f.Path) != f.Path {
			t.Errorf("path %q is not clean and absolute", f.Path)
		}
		if _, dup := seen[f.Path]; dup {
			t.Errorf("path %q rendered twice", f.Path)
		}
		if parent := filepath.Dir(f.Path); parent != "/" {
			if p, ok := seen[parent]; !ok || !p.Dir {
				t.Errorf("%s comes before (or without) its parent directory %s", f.Path, parent)
			}
		}
		seen[f.Path] = f
	}
	if m := seen[HostKeyPath].Mode; m != 0o600 {
		t.Errorf("host key mode = %v, want 0600", m)
	}
	if tok := seen[AgentTokenPath]; tok.Mode != 0o600 || string(tok.Content) != testConfig(t).AgentToken+"\n" {
		t.Errorf("agent token entry = %+v, want the token, mode 0600", tok)
	}
	if s := seen["/etc/systemd/system/local-fs.target.wants/root.mount"].Symlink; s != "../root.mount" {
		t.Errorf("root.mount wants symlink = %q", s)
	}
	if s := seen["/etc/systemd/system/local-fs.target.wants/var-lib-docker.mount"].Symlink; s != "../var-lib-docker.mount" {
		t.Errorf("var-lib-docker.mount wants symlink = %q", s)
	}
	if got := string(seen["/etc/hostname"].Content); got != "calm-otter\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
}

// TestHostKeyReadableByOpenSSH checks the generated key with the real
// ssh-keygen, which is what sshd's parser is.
func TestHostKeyReadableByOpenSSH(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	testenv.RequireOrSkip(t, "ssh-keygen (not installed)", err == nil)
	priv, pub, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(keygen, "-y", "-f", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != pub {
		t.Errorf("ssh-keygen derived %q, NewHostKey said %q", got, pub)
	}
}

func TestRenderRejects(t *testing.T) {
	otherPriv, _, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"empty hostname", func(c *Config) { c.Hostname = "" }, "hostname is empty"},
		{"upper-case hostname", func(c *Config) { c.Hostname = "Calm" }, `hostname "Calm" is invalid`},
		{"dotted hostname", func(c *Config) { c.Hostname = "a.b" }, `hostname "a.b" is invalid`},
		{"leading hyphen", func(c *Config) { c.Hostname = "-a" }, "is invalid"},
		{"trailing hyphen", func(c *Config) { c.Hostname = "a-" }, "is invalid"},
		{"long hostname", func(c *Config) { c.Hostname = strings.Repeat("a", 64) }, "limit is 63"},
		{"nil MAC", func(c *Config) { c.MAC = nil }, "not a 6-byte"},
		{"multicast MAC", func(c *Config) { c.MAC = net.HardwareAddr{1, 0, 0, 0, 0, 1} }, "multicast"},
		{"no address", func(c *Config) { c.Address = netip.Prefix{} }, "not an IPv4 prefix"},
		{"v6 address", func(c *Config) { c.Address = netip.MustParsePrefix("fd00::5/64") }, "not an IPv4 prefix"},
		{"/32 address", func(c *Config) { c.Address = netip.MustParsePrefix("172.30.0.5/32") }, "prefix length"},
		{"network address", func(c *Config) { c.Address = netip.MustParsePrefix("172.30.0.0/24") }, "network address"},
		{"no gateway", func(c *Config) { c.Gateway = netip.Addr{} }, "gateway invalid IP is not"},
		{"gateway outside", func(c *Config) { c.Gateway = netip.MustParseAddr("10.0.0.1") }, "outside the guest network 172.30.0.0/24"},
		{"gateway is self", func(c *Config) { c.Gateway = netip.MustParseAddr("172.30.0.5") }, "own address"},
		{"bad DNS", func(c *Config) { c.DNS = []netip.Addr{{}} }, "DNS server"},
		{"unspecified DNS", func(c *Config) { c.DNS = []netip.Addr{netip.IPv4Unspecified()} }, "DNS server 0.0.0.0"},
		{"loopback DNS", func(c *Config) { c.DNS = []netip.Addr{netip.MustParseAddr("127.0.0.53")} }, "DNS server 127.0.0.53 is a loopback"},
		{"v6 DNS", func(c *Config) { c.DNS = []netip.Addr{netip.MustParseAddr("2001:db8::1")} }, "IPv6"},
		{"no keys", func(c *Config) { c.AuthorizedKeys = nil }, "no authorized keys"},
		{"garbage key", func(c *Config) { c.AuthorizedKeys = []string{"ssh-ed25519 nope"} }, "authorized key 1: parse"},
		{"smuggled key", func(c *Config) { c.AuthorizedKeys = []string{userKey(1) + "\n" + userKey(2)} }, "line break"},
		{"no host key", func(c *Config) { c.HostKey = nil }, "host key is empty"},
		{"garbage host key", func(c *Config) { c.HostKey = []byte("nope") }, "parse host key"},
		{"mismatched host key", func(c *Config) { c.HostKey = otherPriv }, "does not belong"},
		{"bad host pub", func(c *Config) { c.HostKeyPub = "x" }, "host public key"},
		{"bad label", func(c *Config) { c.WorkDiskLabel = "a b" }, `label "a b" is invalid`},
		{"long label", func(c *Config) { c.WorkDiskLabel = strings.Repeat("w", 17) }, "16 bytes"},
		{"no agent token", func(c *Config) { c.AgentToken = "" }, "agent token is 0 characters long"},
		{"short agent token", func(c *Config) { c.AgentToken = c.AgentToken[:63] }, "63 characters"},
		{"upper-case agent token", func(c *Config) { c.AgentToken = strings.ToUpper(c.AgentToken) }, "other than 0-9 and a-f"},
		{"agent token with a newline", func(c *Config) { c.AgentToken = c.AgentToken[:63] + "\n" }, "other than 0-9 and a-f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			tc.edit(&c)
			_, err := Render(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Render error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestKnownHostsLine(t *testing.T) {
	_, pub, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	line := KnownHostsLine([]string{"calm-otter.vm", "172.30.0.5", "172.30.0.5:2222"}, pub+" comment")
	wantPrefix := "calm-otter.vm,172.30.0.5,[172.30.0.5]:2222 ssh-ed25519 "
	if !strings.HasPrefix(line, wantPrefix) || strings.Contains(line, "comment") {
		t.Fatalf("KnownHostsLine = %q", line)
	}
	// The line must be accepted by the known_hosts parser for each host.
	marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil || marker != "" {
		t.Fatalf("ParseKnownHosts(%q): marker %q err %v", line, marker, err)
	}
	if len(hosts) != 3 || strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) != pub {
		t.Fatalf("parsed hosts %v key %v", hosts, key)
	}
}

func TestNewAgentToken(t *testing.T) {
	a, err := NewAgentToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewAgentToken()
	if err := ValidateAgentToken(a); err != nil || a == b {
		t.Fatalf("tokens %q and %q: %v", a, b, err)
	}
	files, err := AgentTokenFiles(a)
	if err != nil || len(files) != 2 || files[1].Path != AgentTokenPath || files[1].Mode != 0o600 || !files[0].Dir {
		t.Fatalf("AgentTokenFiles = %+v, %v", files, err)
	}
	if _, err := AgentTokenFiles("x"); err == nil {
		t.Fatal("AgentTokenFiles accepted a bad token")
	}
}

// PerVMPaths must name every file Render writes, or a saved image would
// carry one VM's identity.
func TestPerVMPathsCoverRender(t *testing.T) {
	files, err := Render(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	paths := PerVMPaths()
	for _, f := range files {
		if !f.Dir && !slices.Contains(paths, f.Path) {
			t.Errorf("Render writes %s, which PerVMPaths lacks", f.Path)
		}
	}
	if !slices.Contains(paths, MachineIDPath) {
		t.Errorf("PerVMPaths lacks the machine id")
	}
}
