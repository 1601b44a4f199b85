package privileged

import (
	"context"
	"errors"
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
	rule := nat.Rule{VMID: "0123456789abcdef", GuestIP: netip.MustParseAddr("172.30.0.2"), TAP: "bgt-0000aaaa", Bridge: "banger0"}

	exercise := func(t *testing.T, ns *netnstest.NS, ops Ops) {
		t.Helper()
		steps := []struct {
			name string
			call func() error
		}{
			{"EnsureBridge", func() error { return ops.EnsureBridge(ctx, "banger0", br) }},
			{"EnsureBridge again", func() error { return ops.EnsureBridge(ctx, "banger0", br) }},
			{"CreateTAP", func() error { return ops.CreateTAP(ctx, "bgt-0000aaaa", 65534, 65534, "banger0") }},
			{"CreateTAP again", func() error { return ops.CreateTAP(ctx, "bgt-0000aaaa", 65534, 65534, "banger0") }},
			{"CreateTAP other", func() error { return ops.CreateTAP(ctx, "bgt-0000bbbb", 65534, 65534, "banger0") }},
			{"DeleteTAP", func() error { return ops.DeleteTAP(ctx, "bgt-0000bbbb") }},
			{"DeleteTAP missing", func() error { return ops.DeleteTAP(ctx, "bgt-0000bbbb") }},
			{"EnableForwarding", func() error { return ops.EnableForwarding(ctx) }},
			{"ApplyNAT", func() error { return ops.ApplyNAT(ctx, rule) }},
			{"ApplyNAT again", func() error { return ops.ApplyNAT(ctx, rule) }},
		}
		for _, s := range steps {
			if err := s.call(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		out, err := ns.Exec(ctx, "sh", "-c", "cat /sys/class/net/bgt-0000aaaa/owner /proc/sys/net/ipv4/ip_forward; readlink /sys/class/net/bgt-0000aaaa/master; ls /sys/class/net; iptables -w -t nat -S BANGER-POST")
		if err != nil {
			t.Fatal(err)
		}
		got := string(out)
		for _, want := range []string{"65534\n1\n", "/banger0\n", `-s 172.30.0.2/32 ! -o banger0 -m comment --comment "banger:vm:0123456789abcdef" -j MASQUERADE`} {
			if !strings.Contains(got, want) {
				t.Errorf("namespace state lacks %q:\n%s", want, got)
			}
		}
		if strings.Contains(got, "bgt-0000bbbb") || strings.Count(got, "MASQUERADE") != 1 {
			t.Errorf("namespace state has a deleted tap or duplicate rules:\n%s", got)
		}
		if err := ops.ReconcileNAT(ctx, nil); err != nil {
			t.Fatalf("ReconcileNAT: %v", err)
		}
		if out, _ := ns.Exec(ctx, "iptables", "-w", "-t", "nat", "-S", "BANGER-POST"); strings.Contains(string(out), "banger:vm:") {
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
		// As if invoked through sudo by uid 1000: a TAP for someone else is refused.
		s.Env = append(s.Env, "SUDO_UID=1000", "SUDO_GID=1000")
		err := s.CreateTAP(ctx, "bgt-0000cccc", 65534, 65534, "banger0")
		var he *HelperError
		if !errors.As(err, &he) || !strings.Contains(err.Error(), "not the invoking user") {
			t.Errorf("CreateTAP for another user under sudo = %v", err)
		}
		err = s.DeleteTAP(ctx, "bgt-0000aaaa")
		if !errors.As(err, &he) || !strings.Contains(err.Error(), "not the invoking user") {
			t.Errorf("DeleteTAP of another user's tap under sudo = %v", err)
		}
	})

	t.Run("local", func(t *testing.T) {
		ns := netnstest.New(t)
		ns.Do(t, func() { exercise(t, ns, NewLocal()) })
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
		if err := s.EnsureBridge(ctx, "banger0", br); err != nil {
			t.Fatal(err)
		}
		// sudo sets SUDO_UID=0 for root, so only root-owned TAPs are allowed.
		if err := s.CreateTAP(ctx, "bgt-0000aaaa", 0, 0, "banger0"); err != nil {
			t.Errorf("CreateTAP owned by the sudo caller: %v", err)
		}
		if err := s.CreateTAP(ctx, "bgt-0000bbbb", 65534, 65534, "banger0"); err == nil {
			t.Errorf("CreateTAP for another user through sudo was allowed")
		}
	})
}
