package guard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"banger/internal/execx"
	"banger/internal/network/netnstest"
)

const nftPath = "/usr/sbin/nft"

// newNSGuard returns a namespace and a Guard driving the real nft. nft
// runs in the namespace because Guard calls happen inside ns.Do.
func newNSGuard(t *testing.T) (*netnstest.NS, *Guard) {
	t.Helper()
	netnstest.Require(t, "ip", "nft")
	ns := netnstest.New(t)
	path, err := execx.LookPath("nft")
	if err != nil {
		t.Fatal(err)
	}
	return ns, New(NFT{Path: path})
}

func hostRuleset(t *testing.T, ctx context.Context) string {
	t.Helper()
	out, err := execx.Run(ctx, nftPath, "list", "ruleset")
	if err != nil {
		t.Fatalf("list host nftables ruleset: %v", err)
	}
	return string(out)
}

// TestRulesInNamespace binds, rebinds, lists and removes real rules inside
// a throwaway namespace, and checks the host's ruleset is untouched.
func TestRulesInNamespace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, g := newNSGuard(t)
	hostBefore := hostRuleset(t, ctx)
	if v, err := g.Version(ctx); err != nil || !strings.HasPrefix(v, "nftables v") {
		t.Errorf("Version = %q, %v", v, err)
	}

	a := Binding{TAP: "bgt-0000000a", MAC: mac(t, "02:00:00:00:00:0a"), IP: netip.MustParseAddr("172.30.0.2"), Tag: "u1000:iab12cd34"}
	b := Binding{TAP: "bgt-0000000b", MAC: mac(t, "02:00:00:00:00:0b"), IP: netip.MustParseAddr("172.30.0.3")}
	ns.Do(t, func() {
		if bs, err := g.List(ctx); err != nil || len(bs) != 0 {
			t.Fatalf("List in a fresh namespace = %v, %v; want none", bs, err)
		}
		for _, x := range []Binding{a, b, a} {
			if err := g.Bind(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		want := []Binding{a, b}
		if bs, err := g.List(ctx); err != nil || !reflect.DeepEqual(bs, want) {
			t.Fatalf("List = %+v, %v; want %+v", bs, err, want)
		}
		once := nsRuleset(t, ctx, ns)
		if err := g.Bind(ctx, b); err != nil {
			t.Fatal(err)
		}
		if twice := nsRuleset(t, ctx, ns); twice != once {
			t.Errorf("binding again changed the ruleset:\n%s\nvs\n%s", once, twice)
		}

		// Rebinding with a new address replaces the old rules.
		a2 := a
		a2.IP = netip.MustParseAddr("172.30.0.9")
		a2.Tag = "u1000:other"
		if err := g.Bind(ctx, a2); err != nil {
			t.Fatal(err)
		}
		got, ok, err := g.Lookup(ctx, a.TAP)
		if err != nil || !ok || !reflect.DeepEqual(got, a2) {
			t.Fatalf("Lookup after rebind = %+v, %v, %v; want %+v", got, ok, err, a2)
		}
		if rs := nsRuleset(t, ctx, ns); strings.Contains(rs, "172.30.0.2") {
			t.Errorf("old address still in the ruleset after rebind:\n%s", rs)
		}

		for range 2 {
			if err := g.Unbind(ctx, a.TAP); err != nil {
				t.Fatalf("Unbind: %v", err)
			}
		}
		if err := g.Unbind(ctx, "bgt-neverbound"); err != nil {
			t.Fatalf("Unbind of a TAP never bound: %v", err)
		}
		if bs, err := g.List(ctx); err != nil || !reflect.DeepEqual(bs, []Binding{b}) {
			t.Fatalf("List after Unbind = %+v, %v; want only %s", bs, err, b.TAP)
		}
		if _, ok, err := g.Lookup(ctx, a.TAP); ok || err != nil {
			t.Fatalf("Lookup of an unbound TAP = %v, %v", ok, err)
		}
		if rs := nsRuleset(t, ctx, ns); strings.Contains(rs, a.TAP) || strings.Contains(rs, "bgt-neverbound") {
			t.Errorf("unbound TAPs left objects behind:\n%s", rs)
		}

		// Host access, per bridge.
		br1, br2 := netip.MustParsePrefix("172.30.0.1/24"), netip.MustParsePrefix("172.30.1.0/24")
		for range 2 {
			if err := g.SetHostAccess(ctx, "banger0", br1, false); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.SetHostAccess(ctx, "banger-u1", br2, false); err != nil {
			t.Fatal(err)
		}
		want2 := []HostBlock{{"banger-u1", br2}, {"banger0", netip.MustParsePrefix("172.30.0.0/24")}}
		if hs, err := g.HostBlocks(ctx); err != nil || !reflect.DeepEqual(hs, want2) {
			t.Fatalf("HostBlocks = %+v, %v; want %+v", hs, err, want2)
		}
		for range 2 {
			if err := g.SetHostAccess(ctx, "banger0", netip.Prefix{}, true); err != nil {
				t.Fatal(err)
			}
		}
		if hs, err := g.HostBlocks(ctx); err != nil || !reflect.DeepEqual(hs, want2[:1]) {
			t.Fatalf("HostBlocks after allow = %+v, %v; want %+v", hs, err, want2[:1])
		}
		for _, br := range []string{"banger0", "banger0", "banger-u1", "banger-u2"} {
			if err := g.IsolateBridge(ctx, br, true); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := g.IsolateBridge(ctx, "banger-u1", false); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.IsolateBridge(ctx, "banger-u9", false); err != nil {
			t.Fatal(err)
		}
		if bs, err := g.IsolatedBridges(ctx); err != nil || !reflect.DeepEqual(bs, []string{"banger-u2", "banger0"}) {
			t.Fatalf("IsolatedBridges = %v, %v; want banger-u2, banger0", bs, err)
		}
		if hs, err := g.HostBlocks(ctx); err != nil || !reflect.DeepEqual(hs, want2[:1]) {
			t.Fatalf("HostBlocks after isolating = %+v, %v; want %+v", hs, err, want2[:1])
		}
		if out, err := ns.Exec(ctx, nftPath, "list", "tables"); err != nil || string(out) != "table bridge banger\ntable inet banger\n" {
			t.Errorf("tables in namespace = %q, %v; want only banger's", out, err)
		}
	})
	if after := hostRuleset(t, ctx); after != hostBefore {
		t.Errorf("host ruleset changed:\nbefore:\n%s\nafter:\n%s", hostBefore, after)
	}
}

func nsRuleset(t *testing.T, ctx context.Context, ns *netnstest.NS) string {
	t.Helper()
	out, err := ns.Exec(ctx, nftPath, "list", "ruleset")
	if err != nil {
		t.Fatalf("list namespace ruleset: %v", err)
	}
	return string(out)
}

func mac(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// nsRunner runs nft in ns through `ip netns exec`, so it is safe to call
// from any goroutine (ns.Do only moves the calling one).
type nsRunner struct{ ns *netnstest.NS }

func (r nsRunner) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return execx.Cmd{Argv: append([]string{"ip", "netns", "exec", r.ns.Name, nftPath}, args...), Stdin: stdin}.Run(ctx)
}

// TestConcurrentBinds binds and unbinds TAPs from many goroutines at once,
// as several VMs starting together do: every transaction rewrites the
// base chain, which must still hold exactly one copy of each rule.
func TestConcurrentBinds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, _ := newNSGuard(t)
	g := New(nsRunner{ns})
	const n = 12
	var want []Binding
	errs := make(chan error, 2*n)
	for i := range n {
		b := Binding{TAP: fmt.Sprintf("bgt-%08x", i), MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(i)},
			IP: netip.AddrFrom4([4]byte{172, 30, 0, byte(10 + i)}), Tag: fmt.Sprintf("u1000:i%d", i)}
		if i%3 != 0 {
			want = append(want, b)
		}
		go func() {
			err := g.Bind(ctx, b)
			if err == nil && i%3 == 0 {
				err = g.Unbind(ctx, b.TAP)
			}
			errs <- err
			errs <- g.Unbind(ctx, fmt.Sprintf("bgt-gone%d", i))
		}()
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if bs, err := g.List(ctx); err != nil || !reflect.DeepEqual(bs, want) {
		t.Fatalf("List = %+v, %v; want %+v", bs, err, want)
	}
	out, err := ns.Exec(ctx, nftPath, "list", "chain", "bridge", "banger", "prerouting")
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(out), "iifname"); c != 2 {
		t.Errorf("base chain holds %d rules; want 2:\n%s", c, out)
	}
}
