package privileged

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/execx"
	"banger/internal/network"
	"banger/internal/network/nat"
	"banger/internal/network/netnstest"
)

// TestHelperForRealInNamespace runs the whole operation set through the
// real helper process (this test binary in "real" mode, as `bangerd priv`
// would be) inside a throwaway network namespace, then the same through
// Local in process. Needs root; skipped otherwise.
func TestHelperForRealInNamespace(t *testing.T) {
	netnstest.Require(t, "ip", "iptables")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if got, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(got) != string(hostForward) {
			t.Errorf("host ip_forward changed from %q to %q", hostForward, got)
		}
	})
	br := netip.MustParsePrefix("172.30.0.1/24")
	rule := nat.Rule{Owner: rootOwner, VMID: "0123456789abcdef", GuestIP: netip.MustParseAddr("172.30.0.2"), TAP: "bgt-0000aaaa", Bridge: "banger0"}

	exercise := func(t *testing.T, ns *netnstest.NS, ops Ops) {
		t.Helper()
		steps := []struct {
			name string
			call func() error
		}{
			{"EnsureBridge", func() error { return ops.EnsureBridge(ctx, "banger0", br, rootOwner, true) }},
			{"EnsureBridge again", func() error { return ops.EnsureBridge(ctx, "banger0", br, rootOwner, true) }},
			{"CreateTAP", func() error { return ops.CreateTAP(ctx, "bgt-0000aaaa", rootOwner, 0, "banger0") }},
			{"CreateTAP again", func() error { return ops.CreateTAP(ctx, "bgt-0000aaaa", rootOwner, 0, "banger0") }},
			{"CreateTAP other", func() error { return ops.CreateTAP(ctx, "bgt-0000bbbb", rootOwner, 0, "banger0") }},
			{"DeleteTAP", func() error { return ops.DeleteTAP(ctx, "bgt-0000bbbb", rootOwner) }},
			{"DeleteTAP missing", func() error { return ops.DeleteTAP(ctx, "bgt-0000bbbb", rootOwner) }},
			{"ApplyNAT unbound", func() error {
				if err := ops.ApplyNAT(ctx, rule); err == nil || !strings.Contains(err.Error(), "is not bound to") {
					return fmt.Errorf("nat on an unbound tap: %v", err)
				}
				return nil
			}},
			{"BindTAP", func() error { return ops.BindTAP(ctx, "bgt-0000aaaa", rootOwner, guestMAC, rule.GuestIP) }},
			{"ApplyNAT", func() error { return ops.ApplyNAT(ctx, rule) }},
			{"ApplyNAT again", func() error { return ops.ApplyNAT(ctx, rule) }},
		}
		for _, s := range steps {
			if err := s.call(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		out, err := ns.Exec(ctx, "sh", "-c", "cat /sys/class/net/bgt-0000aaaa/owner /proc/sys/net/ipv4/ip_forward /sys/class/net/bgt-0000aaaa/ifalias /sys/class/net/banger0/ifalias; readlink /sys/class/net/bgt-0000aaaa/master; ls /sys/class/net; iptables -w -t nat -S BANGER-POST")
		if err != nil {
			t.Fatal(err)
		}
		got := string(out)
		for _, want := range []string{"0\n1\nbanger:u0:i0000aaaa\nbanger:u0:i0000aaaa\n", "/banger0\n", `-s 172.30.0.2/32 ! -o banger0 -m comment --comment "banger:u0:i0000aaaa:vm:0123456789abcdef" -j MASQUERADE`} {
			if !strings.Contains(got, want) {
				t.Errorf("namespace state lacks %q:\n%s", want, got)
			}
		}
		if strings.Contains(got, "bgt-0000bbbb") || strings.Count(got, "MASQUERADE") != 1 {
			t.Errorf("namespace state has a deleted tap or duplicate rules:\n%s", got)
		}
		if err := ops.ReconcileNAT(ctx, rootOwner, nil); err != nil {
			t.Fatalf("ReconcileNAT: %v", err)
		}
		if out, _ := ns.Exec(ctx, "iptables", "-w", "-t", "nat", "-S", "BANGER-POST"); strings.Contains(string(out), "banger:") {
			t.Errorf("rules left after ReconcileNAT(nil):\n%s", out)
		}
	}

	t.Run("helper process", func(t *testing.T) {
		ns := netnstest.New(t)
		s := &Sudo{Exe: selfExe(t), Prefix: []string{"ip", "netns", "exec", ns.Name}, Env: []string{"BANGER_PRIV_HELPER=real"}}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		exercise(t, ns, s)
	})

	t.Run("local", func(t *testing.T) {
		ns := netnstest.New(t)
		ns.Do(t, func() {
			l, err := NewLocal()
			if err != nil {
				t.Fatal(err)
			}
			exercise(t, ns, l)
		})
		ns.Do(t, func() {
			if names, err := network.ListTAPs("bgt-"); err != nil || strings.Join(names, ",") != "bgt-0000aaaa" {
				t.Errorf("ListTAPs = %v, %v", names, err)
			}
		})
	})

	t.Run("real sudo", func(t *testing.T) {
		if _, err := execx.LookPath("sudo"); err != nil {
			t.Skip("sudo not installed")
		}
		ns := netnstest.New(t)
		// sudo resets the environment, so the mode is passed through env(1).
		s := &Sudo{Exe: selfExe(t), Prefix: []string{"sudo", "-n", "ip", "netns", "exec", ns.Name, "env", "BANGER_PRIV_HELPER=real"}}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureBridge(ctx, "banger0", br, rootOwner, true); err != nil {
			t.Fatal(err)
		}
		// sudo sets SUDO_UID=0 for root, so only root-owned TAPs are allowed.
		if err := s.CreateTAP(ctx, "bgt-0000aaaa", rootOwner, 0, "banger0"); err != nil {
			t.Errorf("CreateTAP owned by the sudo caller: %v", err)
		}
		if err := s.CreateTAP(ctx, "bgt-0000bbbb", aliceOwner, 1000, "banger0"); err == nil {
			t.Errorf("CreateTAP for another user through sudo was allowed")
		}
	})
}

// TestHelperUnderSudoIsConfined runs the real helper as if uid 1000 had
// invoked it through sudo (SUDO_UID/SUDO_GID set) in a namespace that also
// holds root's bridge, a TAP and a NAT rule, and another bridge standing
// for docker0. Everything outside uid 1000's allotment is refused and
// survives.
func TestHelperUnderSudoIsConfined(t *testing.T) {
	netnstest.Require(t, "ip", "iptables")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := netnstest.New(t)
	root := &Sudo{Exe: selfExe(t), Prefix: []string{"ip", "netns", "exec", ns.Name}, Env: []string{"BANGER_PRIV_HELPER=real"}}
	rootRule := nat.Rule{Owner: rootOwner, VMID: "rootvm", GuestIP: netip.MustParseAddr("172.30.0.2"), TAP: "bgt-0000r00t", Bridge: "banger0"}
	for _, err := range []error{
		root.EnsureBridge(ctx, "banger0", netip.MustParsePrefix("172.30.0.1/24"), rootOwner, true),
		root.CreateTAP(ctx, "bgt-0000r00t", rootOwner, 0, "banger0"),
		root.BindTAP(ctx, "bgt-0000r00t", rootOwner, guestMAC, rootRule.GuestIP),
		root.ApplyNAT(ctx, rootRule),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ns.Exec(ctx, "ip", "link", "add", "docker0", "type", "bridge"); err != nil {
		t.Fatal(err)
	}

	alice := &Sudo{Exe: selfExe(t), Prefix: []string{"ip", "netns", "exec", ns.Name}, Env: []string{"BANGER_PRIV_HELPER=real", "SUDO_UID=1000", "SUDO_GID=1000"}}
	gw := netip.MustParsePrefix("172.30.236.1/24")
	refusals := map[string]func() error{
		"foreign bridge": func() error { return alice.EnsureBridge(ctx, "docker0", gw, aliceOwner, true) },
		"root's bridge": func() error {
			return alice.EnsureBridge(ctx, "banger0", netip.MustParsePrefix("172.30.0.1/24"), aliceOwner, true)
		},
		"foreign subnet": func() error {
			return alice.EnsureBridge(ctx, "banger1000", netip.MustParsePrefix("8.8.8.9/30"), aliceOwner, true)
		},
		"tap on a foreign bridge": func() error { return alice.CreateTAP(ctx, "bgt-0000a11c", aliceOwner, 1000, "docker0") },
		"tap for root":            func() error { return alice.CreateTAP(ctx, "bgt-0000a11c", rootOwner, 0, "banger1000") },
		"delete root's tap":       func() error { return alice.DeleteTAP(ctx, "bgt-0000r00t", aliceOwner) },
		"nat for root's address": func() error {
			return alice.ApplyNAT(ctx, nat.Rule{Owner: aliceOwner, VMID: "x", GuestIP: netip.MustParseAddr("172.30.0.2"), TAP: "bgt-0000r00t", Bridge: "banger1000"})
		},
		"nat on a foreign interface": func() error {
			return alice.ApplyNAT(ctx, nat.Rule{Owner: aliceOwner, VMID: "x", GuestIP: netip.MustParseAddr("172.30.236.2"), TAP: "bgt-0000r00t", Bridge: "docker0"})
		},
		"nat on root's tap": func() error {
			return alice.ApplyNAT(ctx, nat.Rule{Owner: aliceOwner, VMID: "x", GuestIP: netip.MustParseAddr("172.30.236.2"), TAP: "bgt-0000r00t", Bridge: "banger1000"})
		},
		"remove root's rule":     func() error { return alice.RemoveNAT(ctx, rootOwner, "rootvm") },
		"reconcile root's rules": func() error { return alice.ReconcileNAT(ctx, rootOwner, nil) },
	}
	for name, call := range refusals {
		var he *HelperError
		if err := call(); !errors.As(err, &he) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	// Its own allotment works, and its reconcile leaves root's rule alone.
	for name, err := range map[string]error{
		"own bridge": alice.EnsureBridge(ctx, "banger1000", gw, aliceOwner, true),
		"own tap":    alice.CreateTAP(ctx, "bgt-0000a11c", aliceOwner, 1000, "banger1000"),
		"own bind":   alice.BindTAP(ctx, "bgt-0000a11c", aliceOwner, guestMAC, netip.MustParseAddr("172.30.236.2")),
		"own nat":    alice.ApplyNAT(ctx, nat.Rule{Owner: aliceOwner, VMID: "alicevm", GuestIP: netip.MustParseAddr("172.30.236.2"), TAP: "bgt-0000a11c", Bridge: "banger1000"}),
		"reconcile":  alice.ReconcileNAT(ctx, aliceOwner, nil),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	out, err := ns.Exec(ctx, "sh", "-c", "ls /sys/class/net; cat /sys/class/net/bgt-0000a11c/owner /sys/class/net/bgt-0000a11c/ifalias; iptables -w -t nat -S BANGER-POST; ip -4 -o addr show")
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{"bgt-0000r00t", "banger:u0:i0000aaaa:vm:rootvm", "1000\nbanger:u1000:i1111aaaa\n", "banger1000    inet 172.30.236.1/24"} {
		if !strings.Contains(got, want) {
			t.Errorf("namespace lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"8.8.8.9", "alicevm", "docker0    inet"} {
		if strings.Contains(got, bad) {
			t.Errorf("namespace has %q:\n%s", bad, got)
		}
	}
}

var guestMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}

// TestSecondInstallationOnOneBridge: a second installation of the same
// user is refused the bridge while the first has a TAP on it, and may take
// it over once the first's TAPs are gone.
func TestSecondInstallationOnOneBridge(t *testing.T) {
	netnstest.Require(t, "ip")
	ctx := context.Background()
	ns := netnstest.New(t)
	s := &Sudo{Exe: selfExe(t), Prefix: []string{"ip", "netns", "exec", ns.Name}, Env: []string{"BANGER_PRIV_HELPER=real"}}
	other := network.Owner{UID: 0, Installation: "0000bbbb"}
	gw := netip.MustParsePrefix("172.30.0.1/24")
	if err := s.EnsureBridge(ctx, "banger0", gw, rootOwner, true); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTAP(ctx, "bgt-0000aaaa", rootOwner, 0, "banger0"); err != nil {
		t.Fatal(err)
	}
	err := s.EnsureBridge(ctx, "banger0", gw, other, true)
	if err == nil || !strings.Contains(err.Error(), "in use by another banger installation") || !strings.Contains(err.Error(), "0000aaaa") {
		t.Fatalf("second installation on a busy bridge: %v", err)
	}
	if err := s.DeleteTAP(ctx, "bgt-0000aaaa", other); err == nil {
		t.Errorf("the second installation deleted the first's tap")
	}
	if err := s.DeleteTAP(ctx, "bgt-0000aaaa", rootOwner); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBridge(ctx, "banger0", gw, other, true); err != nil {
		t.Errorf("take over an idle bridge: %v", err)
	}
}
