package guard

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// defaultRoutes returns the IPv6 default routes of the calling thread's
// namespace.
func defaultRoutes(t *testing.T) []netlink.Route {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V6)
	if err != nil {
		t.Fatalf("list ipv6 routes: %v", err)
	}
	var out []netlink.Route
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			out = append(out, r)
		}
	}
	return out
}

// TestRouterAdvertDoesNotRouteHost writes a router advertisement (router
// lifetime 1800 s, an autoconf prefix) into a guest's TAP on a bridge that
// accepts RAs, as banger0 did. Unguarded, the namespace gains a default
// IPv6 route through the guest; with either half of the guard — the
// bridge-family rules or IPv6 off on bridge and TAP — it gains none.
func TestRouterAdvertDoesNotRouteHost(t *testing.T) {
	guestLL := netip.MustParseAddr("fe80::ff:fe00:a")
	for _, mode := range []string{"unguarded", "bridge-rules", "ipv6-off"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns, g := newNSGuard(t)
			ns.Do(t, func() {
				writeSysctl(t, "net/ipv6/conf/all/forwarding", "0")
				br := createBridge(t, "banger0", hostAddr)
				writeSysctl(t, "net/ipv6/conf/banger0/accept_ra", "1")
				a := openTAP(t, "bgt-0000000a", br)
				switch mode {
				case "bridge-rules":
					if err := g.Bind(ctx, Binding{TAP: a.name, MAC: macA, IP: ipA}); err != nil {
						t.Fatal(err)
					}
				case "ipv6-off":
					for _, ifname := range []string{"banger0", a.name} {
						if err := DisableIPv6(ifname); err != nil {
							t.Fatal(err)
						}
						for f, want := range map[string]string{"accept_ra": "0\n", "disable_ipv6": "1\n"} {
							if got, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/" + f); err != nil || string(got) != want {
								t.Errorf("%s %s = %q, %v; want %q", ifname, f, got, err, want)
							}
						}
					}
					if err := DisableIPv6("bgt-absent"); err == nil || !strings.Contains(err.Error(), "bgt-absent") {
						t.Errorf("DisableIPv6 of a missing interface = %v; want an error naming it", err)
					}
				}
				if rs := defaultRoutes(t); len(rs) != 0 {
					t.Fatalf("fresh namespace already has IPv6 default routes: %v", rs)
				}

				a.write(t, routerAdvert(macA, guestLL))

				if mode == "unguarded" {
					// The RA must take effect here, or the guarded cases
					// prove nothing.
					deadline := time.Now().Add(time.Minute)
					for len(defaultRoutes(t)) == 0 {
						if time.Now().After(deadline) {
							t.Fatal("the router advertisement gave no default route even without the guard")
						}
						time.Sleep(10 * time.Millisecond)
					}
					return
				}
				// The host answering A's ARP request after the RA means the
				// RA was processed (or dropped) already.
				a.write(t, ether(broadcast, macA, etherARP, arp(1, macA, ipA, broadcast, hostAddr.Addr())))
				a.waitFor(t, "the host's ARP reply", func(f []byte) bool { return isARPReply(f, hostAddr.Addr()) })
				if rs := defaultRoutes(t); len(rs) != 0 {
					t.Errorf("the guest's router advertisement gave the host default routes: %v", rs)
				}
			})
		})
	}
}
