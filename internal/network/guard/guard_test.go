package guard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var ctx = context.Background()

func binding(t testing.TB) Binding {
	return Binding{TAP: "bgt-0000000a", MAC: mac(t, "02:00:00:00:00:0a"), IP: netip.MustParseAddr("172.30.0.2"), Tag: "u1000:iab12cd34"}
}

func TestBindScript(t *testing.T) {
	f := newFake(t)
	if err := New(f).Bind(ctx, binding(t)); err != nil {
		t.Fatal(err)
	}
	want := `add table bridge banger
add chain bridge banger prerouting { type filter hook prerouting priority -200; policy accept; }
add map bridge banger taps { type ifname : verdict; }
flush chain bridge banger prerouting
add rule bridge banger prerouting iifname vmap @taps
add rule bridge banger prerouting iifname "bgt-*" counter drop
add chain bridge banger tap-bgt-0000000a
flush chain bridge banger tap-bgt-0000000a
add rule bridge banger tap-bgt-0000000a ether saddr != 02:00:00:00:00:0a counter drop comment "u1000:iab12cd34"
add rule bridge banger tap-bgt-0000000a ether type ip ip saddr 172.30.0.2 accept
add rule bridge banger tap-bgt-0000000a ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:00:00:00:00:0a arp saddr ip 172.30.0.2 accept
add rule bridge banger tap-bgt-0000000a counter drop
add element bridge banger taps { "bgt-0000000a" : jump tap-bgt-0000000a }
`
	if len(f.scripts) != 1 || f.scripts[0] != want {
		t.Fatalf("Bind ran %d scripts:\n%s\nwant one:\n%s", len(f.scripts), strings.Join(f.scripts, "\n---\n"), want)
	}
}

func TestBindWithoutTagHasNoComment(t *testing.T) {
	f := newFake(t)
	b := binding(t)
	b.Tag = ""
	if err := New(f).Bind(ctx, b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.scripts[0], "comment") {
		t.Errorf("script has a comment for an empty tag:\n%s", f.scripts[0])
	}
}

func TestUnbindScriptIsIdempotentTransaction(t *testing.T) {
	f := newFake(t)
	if err := New(f).Unbind(ctx, "bgt-0000000a"); err != nil {
		t.Fatal(err)
	}
	s := f.scripts[0]
	// Each object is added before it is deleted, so the transaction works
	// whether or not the TAP was bound.
	order := []string{
		"add chain bridge banger tap-bgt-0000000a\n",
		"add element bridge banger taps { \"bgt-0000000a\" : jump tap-bgt-0000000a }\n",
		"delete element bridge banger taps { \"bgt-0000000a\" }\n",
		"flush chain bridge banger tap-bgt-0000000a\n",
		"delete chain bridge banger tap-bgt-0000000a\n",
	}
	at := 0
	for _, line := range order {
		i := strings.Index(s[at:], line)
		if i < 0 {
			t.Fatalf("unbind script lacks %q after offset %d:\n%s", line, at, s)
		}
		at += i + len(line)
	}
	if strings.Contains(s, "inet") || strings.Contains(s, "delete table") {
		t.Errorf("unbind script reaches beyond the TAP's objects:\n%s", s)
	}
}

func TestHostAccessScripts(t *testing.T) {
	f := newFake(t)
	g := New(f)
	if err := g.SetHostAccess(ctx, "banger0", netip.MustParsePrefix("172.30.0.1/24"), false); err != nil {
		t.Fatal(err)
	}
	if err := g.SetHostAccess(ctx, "banger0", netip.Prefix{}, true); err != nil {
		t.Fatal(err)
	}
	block, allow := f.scripts[0], f.scripts[1]
	for _, line := range []string{
		"add chain inet banger input { type filter hook input priority filter; policy accept; }\n",
		"add rule inet banger input iifname vmap @hostblock\n",
		"add rule inet banger host-banger0 ct state established,related accept\n",
		"add rule inet banger host-banger0 ip saddr 172.30.0.0/24 counter drop\n",
		"add element inet banger hostblock { \"banger0\" : jump host-banger0 }\n",
	} {
		if !strings.Contains(block, line) {
			t.Errorf("block script lacks %q:\n%s", line, block)
		}
	}
	if !strings.Contains(allow, "delete element inet banger hostblock { \"banger0\" }\n") ||
		!strings.Contains(allow, "delete chain inet banger host-banger0\n") {
		t.Errorf("allow script does not remove the block:\n%s", allow)
	}
	if strings.Contains(block+allow, "bridge banger") {
		t.Errorf("host access scripts touch the bridge table")
	}
}

func TestIsolateScripts(t *testing.T) {
	f := newFake(t)
	g := New(f)
	if err := g.IsolateBridge(ctx, "banger0", true); err != nil {
		t.Fatal(err)
	}
	if err := g.IsolateBridge(ctx, "banger0", false); err != nil {
		t.Fatal(err)
	}
	on, off := f.scripts[0], f.scripts[1]
	for _, line := range []string{
		"add chain inet banger forward { type filter hook forward priority filter; policy accept; }\n",
		"add rule inet banger forward iifname @bridges oifname @bridges counter drop\n",
		"add element inet banger bridges { \"banger0\" }\n",
	} {
		if !strings.Contains(on, line) || !strings.Contains(off, line) {
			t.Errorf("isolate scripts lack %q:\n%s\n---\n%s", line, on, off)
		}
	}
	if strings.Contains(on, "delete") || !strings.HasSuffix(off, "delete element inet banger bridges { \"banger0\" }\n") {
		t.Errorf("isolate on/off scripts:\n%s\n---\n%s", on, off)
	}
	if err := g.IsolateBridge(ctx, `x" }`, true); err == nil || len(f.scripts) != 2 {
		t.Errorf("invalid bridge name accepted: %v", err)
	}
}

// TestInvalidInputNeverReachesNft feeds values that would change the
// meaning of the generated ruleset, or are not what a guest may own.
func TestInvalidInputNeverReachesNft(t *testing.T) {
	good := binding(t)
	with := func(fn func(*Binding)) Binding { b := good; fn(&b); return b }
	cases := []struct {
		name string
		b    Binding
		want string // in the error
	}{
		{"quote in tap", with(func(b *Binding) { b.TAP = `bgt-a" }` }), `"bgt-a\" }" may only contain`},
		{"newline in tap", with(func(b *Binding) { b.TAP = "bgt-a\nflush" }), `"bgt-a\nflush"`},
		{"foreign tap", with(func(b *Binding) { b.TAP = "eth0" }), `"eth0" must start with "bgt-"`},
		{"bare prefix", with(func(b *Binding) { b.TAP = "bgt-" }), `"bgt-"`},
		{"long tap", with(func(b *Binding) { b.TAP = "bgt-0123456789ab" }), "at most 15"},
		{"wildcard tap", with(func(b *Binding) { b.TAP = "bgt-*" }), `"bgt-*"`},
		{"no mac", with(func(b *Binding) { b.MAC = nil }), "6-byte"},
		{"eui64 mac", with(func(b *Binding) { b.MAC = net.HardwareAddr{2, 0, 0, 0, 0, 0, 0, 1} }), "6-byte"},
		{"multicast mac", with(func(b *Binding) { b.MAC = mac(t, "03:00:00:00:00:01") }), "03:00:00:00:00:01 is not a unicast"},
		{"broadcast mac", with(func(b *Binding) { b.MAC = mac(t, "ff:ff:ff:ff:ff:ff") }), "not a unicast"},
		{"zero mac", with(func(b *Binding) { b.MAC = mac(t, "00:00:00:00:00:00") }), "not a unicast"},
		{"no ip", with(func(b *Binding) { b.IP = netip.Addr{} }), "is not a unicast IPv4"},
		{"ipv6", with(func(b *Binding) { b.IP = netip.MustParseAddr("fd00::2") }), `"fd00::2" is not a unicast IPv4`},
		{"mapped ipv4", with(func(b *Binding) { b.IP = netip.MustParseAddr("::ffff:172.30.0.2") }), "not a unicast IPv4"},
		{"unspecified", with(func(b *Binding) { b.IP = netip.MustParseAddr("0.0.0.0") }), "not a unicast IPv4"},
		{"broadcast ip", with(func(b *Binding) { b.IP = netip.MustParseAddr("255.255.255.255") }), "not a unicast IPv4"},
		{"multicast ip", with(func(b *Binding) { b.IP = netip.MustParseAddr("224.0.0.1") }), "not a unicast IPv4"},
		{"loopback ip", with(func(b *Binding) { b.IP = netip.MustParseAddr("127.0.0.1") }), "not a unicast IPv4"},
		{"quote in tag", with(func(b *Binding) { b.Tag = `x" drop` }), `tag "x\" drop"`},
		{"newline in tag", with(func(b *Binding) { b.Tag = "x\nflush ruleset" }), "may only contain"},
		{"long tag", with(func(b *Binding) { b.Tag = strings.Repeat("a", MaxTagLen+1) }), "at most 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			err := New(f).Bind(ctx, c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Bind(%+v) = %v; want an error containing %q", c.b, err, c.want)
			}
			if len(f.scripts) != 0 {
				t.Fatalf("nft ran for invalid input:\n%s", f.scripts[0])
			}
		})
	}

	f := newFake(t)
	g := New(f)
	for _, err := range []error{
		g.Unbind(ctx, `bgt-x"`),
		g.Unbind(ctx, "docker0"),
		g.SetHostAccess(ctx, `br0" }`, netip.MustParsePrefix("172.30.0.0/24"), false),
		g.SetHostAccess(ctx, `br0" }`, netip.Prefix{}, true),
		g.SetHostAccess(ctx, "banger0", netip.MustParsePrefix("fd00::/64"), false),
		g.SetHostAccess(ctx, "banger0", netip.Prefix{}, false),
	} {
		if err == nil {
			t.Errorf("invalid input accepted")
		}
	}
	if _, _, err := g.Lookup(ctx, "eth0"); err == nil {
		t.Errorf("Lookup of a foreign name accepted")
	}
	if len(f.scripts) != 0 {
		t.Fatalf("nft ran for invalid input:\n%s", strings.Join(f.scripts, "\n---\n"))
	}
}

func TestListParsesInstalledRules(t *testing.T) {
	f := newFake(t)
	f.lists["bridge"] = readTestdata(t, "bridge.json")
	f.lists["inet"] = readTestdata(t, "inet.json")
	g := New(f)
	want := []Binding{
		binding(t),
		{TAP: "bgt-0000000b", MAC: mac(t, "02:00:00:00:00:0b"), IP: netip.MustParseAddr("172.30.0.3")},
	}
	bs, err := g.List(ctx)
	if err != nil || !reflect.DeepEqual(bs, want) {
		t.Fatalf("List = %+v, %v; want %+v", bs, err, want)
	}
	b, ok, err := g.Lookup(ctx, "bgt-0000000b")
	if err != nil || !ok || !reflect.DeepEqual(b, want[1]) {
		t.Fatalf("Lookup = %+v, %v, %v", b, ok, err)
	}
	if _, ok, err := g.Lookup(ctx, "bgt-0000000c"); ok || err != nil {
		t.Fatalf("Lookup of an unbound TAP = %v, %v", ok, err)
	}
	hs, err := g.HostBlocks(ctx)
	wantH := []HostBlock{{"banger0", netip.MustParsePrefix("172.30.0.0/24")}}
	if err != nil || !reflect.DeepEqual(hs, wantH) {
		t.Fatalf("HostBlocks = %+v, %v; want %+v", hs, err, wantH)
	}
	if bs, err := g.IsolatedBridges(ctx); err != nil || !reflect.DeepEqual(bs, []string{"banger0", "banger1"}) {
		t.Fatalf("IsolatedBridges = %v, %v", bs, err)
	}
}

func TestListEmptyAndForeignTables(t *testing.T) {
	f := newFake(t)
	// Another program's bridge table with a map of the same name is not ours.
	f.lists["bridge"] = []byte(`{"nftables": [{"metainfo": {"json_schema_version": 1}},
		{"map": {"family": "bridge", "name": "taps", "table": "other", "type": "ifname", "map": "verdict",
		 "elem": [["bgt-0000000a", {"jump": {"target": "x"}}]]}}]}`)
	f.lists["inet"] = []byte{}
	g := New(f)
	if bs, err := g.List(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("List = %+v, %v; want none", bs, err)
	}
	if hs, err := g.HostBlocks(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("HostBlocks = %+v, %v; want none", hs, err)
	}
}

func TestListRejectsForeignShapes(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":        `{"nftables": [`,
		"element no jump": `{"nftables": [{"map": {"family": "bridge", "name": "taps", "table": "banger", "elem": [["bgt-0000000a", "accept"]]}}]}`,
		"wrong chain":     `{"nftables": [{"map": {"family": "bridge", "name": "taps", "table": "banger", "elem": [["bgt-0000000a", {"jump": {"target": "tap-bgt-0000000b"}}]]}}]}`,
		"empty chain":     `{"nftables": [{"map": {"family": "bridge", "name": "taps", "table": "banger", "elem": [["bgt-0000000a", {"jump": {"target": "tap-bgt-0000000a"}}]]}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			f.lists["bridge"] = []byte(doc)
			if bs, err := New(f).List(ctx); err == nil {
				t.Fatalf("List = %+v; want an error", bs)
			}
		})
	}
}

func TestNftFailureNamesTheTAP(t *testing.T) {
	f := newFake(t)
	f.err = errors.New("netlink: Error: Could not process rule: Operation not permitted")
	err := New(f).Bind(ctx, binding(t))
	if err == nil || !strings.Contains(err.Error(), "bind tap bgt-0000000a") || !errors.Is(err, f.err) {
		t.Fatalf("Bind with failing nft = %v", err)
	}
}

func TestNFTNeedsAbsolutePath(t *testing.T) {
	if _, err := (NFT{Path: "nft"}).Run(ctx, nil, "--version"); err == nil || !strings.Contains(err.Error(), `"nft" is not absolute`) {
		t.Fatalf("NFT with a relative path = %v", err)
	}
}

func TestNFTMissing(t *testing.T) {
	_, err := (NFT{Path: filepath.Join(t.TempDir(), "nft")}).Run(ctx, nil, "--version")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("NFT at a missing path = %v; want ErrNotFound", err)
	}
	if _, err := New(NFT{Path: filepath.Join(t.TempDir(), "nft")}).Version(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Version with a missing nft = %v; want ErrNotFound", err)
	}
}

func TestDisableIPv6(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys/net/ipv6/conf/banger0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"accept_ra", "disable_ipv6"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "disable_ipv6"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := disableIPv6(root, "banger0"); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"accept_ra": "0\n", "disable_ipv6": "1\n"} {
		if got, _ := os.ReadFile(filepath.Join(dir, f)); string(got) != want {
			t.Errorf("%s = %q; want %q", f, got, want)
		}
	}
	if err := disableIPv6(root, "bgt-missing"); err == nil || !strings.Contains(err.Error(), "bgt-missing") {
		t.Errorf("missing interface = %v; want an error naming it", err)
	}
	if err := disableIPv6(root, "../../../x"); err == nil {
		t.Errorf("path-like interface name accepted")
	}
	if err := disableIPv6(t.TempDir(), "banger0"); err != nil {
		t.Errorf("kernel without IPv6 = %v; want nil", err)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
