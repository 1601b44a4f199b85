package allotment

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	root := Default(0)
	if root.Bridge != "banger0" || root.Subnet.String() != "172.30.0.0/24" || root.Gateway().String() != "172.30.0.1/24" {
		t.Errorf("root: %+v gateway %v", root, root.Gateway())
	}
	alice := Default(1000)
	if alice.Bridge != "banger1000" || alice.Subnet.String() != "172.30.236.0/24" {
		t.Errorf("uid 1000: %+v", alice)
	}
	if big := Default(4000000000); len(big.Bridge) > 15 || !strings.HasPrefix(big.Bridge, "bgr") {
		t.Errorf("a 10-digit uid needs a short bridge name: %+v", big)
	}
	for uid := 1; uid < 2000; uid++ {
		if Default(uid).Subnet == root.Subnet {
			t.Fatalf("uid %d shares root's subnet", uid)
		}
	}
}

func TestGuestAddr(t *testing.T) {
	a := Default(0)
	for ip, want := range map[string]bool{
		"172.30.0.2": true, "172.30.0.254": true,
		"172.30.0.0": false, "172.30.0.1": false, "172.30.0.255": false,
		"172.30.1.2": false, "8.8.8.8": false,
	} {
		if got := a.GuestAddr(netip.MustParseAddr(ip)); got != want {
			t.Errorf("GuestAddr(%s) = %t, want %t", ip, got, want)
		}
	}
}

func writePolicy(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "helper.toml")
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func TestLoadPolicy(t *testing.T) {
	p := writePolicy(t, `
[users.root]
bridge_name = "bgr-root"
bridge_cidr = "10.77.0.0/24"

[users.1234]
bridge_name = "bgr-1234"
bridge_cidr = "10.77.1.0/28"
`, 0o644)
	pol, err := Load(p, os.Geteuid() == 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := pol.For(0); a.Bridge != "bgr-root" || a.Subnet.String() != "10.77.0.0/24" || a.Source != p {
		t.Errorf("root: %+v", a)
	}
	if a := pol.For(1234); a.Bridge != "bgr-1234" || a.Subnet.Bits() != 28 {
		t.Errorf("1234: %+v", a)
	}
	if a := pol.For(999); a != Default(999) {
		t.Errorf("a user without an entry gets the default: %+v", a)
	}
	if pol, err := Load(filepath.Join(t.TempDir(), "missing.toml"), true); err != nil || pol.For(0) != Default(0) {
		t.Errorf("a missing policy is empty: %v", err)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":    {"[users.root]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.0.0/24\"\nsubnet = 1\n", "unknown key"},
		"bad bridge":     {"[users.root]\nbridge_name = \"Eth0!\"\nbridge_cidr = \"10.0.0.0/24\"\n", "bridge_name"},
		"host bits":      {"[users.root]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.0.1/24\"\n", "bridge_cidr"},
		"no such user":   {"[users.nobody-here-xyz]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.0.0/24\"\n", "no such user"},
		"shared bridge":  {"[users.0]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.0.0/24\"\n[users.1]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.1.0/24\"\n", "given to both"},
		"duplicate user": {"[users.0]\nbridge_name = \"x\"\nbridge_cidr = \"10.0.0.0/24\"\n[users.root]\nbridge_name = \"y\"\nbridge_cidr = \"10.0.1.0/24\"\n", "twice"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writePolicy(t, tc.body, 0o644), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadPolicyRefusesWritableFile(t *testing.T) {
	p := writePolicy(t, "", 0o666)
	if _, err := Load(p, true); err == nil || !strings.Contains(err.Error(), "writable by no one else") {
		t.Errorf("a group/world-writable policy must be refused: %v", err)
	}
}
