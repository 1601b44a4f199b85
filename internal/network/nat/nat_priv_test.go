package nat

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/execx"
	"banger/internal/network/netnstest"
	"banger/internal/testenv"
)

// recorder wraps a real Runner and keeps the commands that change rules.
type recorder struct {
	Runner
	mu   sync.Mutex
	muts [][]string
}

func (r *recorder) Run(ctx context.Context, args ...string) ([]byte, error) {
	if len(mutations([][]string{args})) > 0 {
		r.mu.Lock()
		r.muts = append(r.muts, args)
		r.mu.Unlock()
	}
	return r.Runner.Run(ctx, args...)
}

// TestNATInNamespace applies, lists, removes and reconciles real rules with
// each iptables backend installed, inside a throwaway network namespace
// (iptables state is per namespace). Needs root; skipped otherwise.
func TestNATInNamespace(t *testing.T) {
	netnstest.Require(t, "ip", "iptables")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hostRules := func() string {
		var b strings.Builder
		for _, table := range []string{"filter", "nat"} {
			out, err := execx.Run(ctx, "iptables", "-w", "-t", table, "-S")
			if err != nil {
				t.Fatalf("list host %s rules: %v", table, err)
			}
			b.Write(out)
		}
		return b.String()
	}
	hostBefore := hostRules()
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}

	for _, prog := range []string{"iptables-nft", "iptables-legacy"} {
		t.Run(prog, func(t *testing.T) {
			_, err := execx.LookPath(prog)
			testenv.RequireOrSkip(t, prog+" (not installed)", err == nil)
			ns := netnstest.New(t)
			nsRules := func() string {
				var b strings.Builder
				for _, table := range []string{"filter", "nat"} {
					out, err := ns.Exec(ctx, prog, "-w", "-t", table, "-S")
					if err != nil {
						t.Fatalf("list %s rules in namespace: %v", table, err)
					}
					b.Write(out)
				}
				return b.String()
			}
			rec := &recorder{Runner: NewRunnerFor(prog)}
			m := New(rec)
			a, b := rule("aaaaaaaaaaaaaaaa", "172.30.0.2"), rule("bbbbbbbbbbbbbbbb", "172.30.0.3")

			ns.Do(t, func() {
				st, err := m.Check(ctx)
				if err != nil || st.Backend == "" || st.Forwarding {
					t.Errorf("Check in a fresh namespace = %+v, %v; want a backend and forwarding off", st, err)
				}
				if err := m.EnableForwarding(); err != nil {
					t.Fatal(err)
				}
				for _, r := range []Rule{a, b} {
					if err := m.Apply(ctx, r); err != nil {
						t.Fatalf("Apply %s: %v", r.VMID, err)
					}
				}
			})
			after := nsRules()
			for _, want := range []string{
				"-A FORWARD -j BANGER-FWD",
				"-A POSTROUTING -j BANGER-POST",
				`-A BANGER-POST -s 172.30.0.2/32 ! -o banger0 -m comment --comment "banger:u0:i0000aaaa:vm:aaaaaaaaaaaaaaaa" -j MASQUERADE`,
				`-A BANGER-FWD -s 172.30.0.3/32 -i banger0 ! -o banger0 -m comment --comment "banger:u0:i0000aaaa:vm:bbbbbbbbbbbbbbbb" -j ACCEPT`,
				`-A BANGER-FWD -d 172.30.0.3/32 -o banger0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "banger:u0:i0000aaaa:vm:bbbbbbbbbbbbbbbb" -j ACCEPT`,
			} {
				if !strings.Contains(after, want+"\n") {
					t.Errorf("namespace rules lack %q:\n%s", want, after)
				}
			}
			if fwd, err := ns.Exec(ctx, "cat", "/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(string(fwd)) != "1" {
				t.Errorf("ip_forward in namespace = %q, %v; want 1", fwd, err)
			}

			rec.muts = nil
			ns.Do(t, func() {
				if err := m.Apply(ctx, a); err != nil {
					t.Fatal(err)
				}
			})
			if len(rec.muts) != 0 || nsRules() != after {
				t.Errorf("re-applying changed rules: %q", rec.muts)
			}

			ns.Do(t, func() {
				ids, err := m.List(ctx, testOwner)
				if err != nil || strings.Join(ids, ",") != "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb" {
					t.Errorf("List = %v, %v", ids, err)
				}
				if err := m.Remove(ctx, testOwner, a.VMID); err != nil {
					t.Fatal(err)
				}
				if ids, _ := m.List(ctx, testOwner); strings.Join(ids, ",") != "bbbbbbbbbbbbbbbb" {
					t.Errorf("List after Remove = %v", ids)
				}
				if err := m.Reconcile(ctx, testOwner, map[string]bool{}); err != nil {
					t.Fatal(err)
				}
				if ids, _ := m.List(ctx, testOwner); len(ids) != 0 {
					t.Errorf("List after Reconcile = %v", ids)
				}
			})
			if left := nsRules(); strings.Contains(left, "banger:u0:i0000aaaa:vm:") {
				t.Errorf("tagged rules left after Reconcile:\n%s", left)
			}
		})
	}

	if got := hostRules(); got != hostBefore {
		t.Errorf("host rules changed:\nbefore:\n%s\nafter:\n%s", hostBefore, got)
	}
	if got, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(got) != string(hostForward) {
		t.Errorf("host ip_forward changed from %q to %q", hostForward, got)
	}
}
