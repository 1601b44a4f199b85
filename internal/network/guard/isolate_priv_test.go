package guard

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestIsolatedBridgesDoNotRoute puts guest A on one bridge and guest B on
// another (two users' installations) with forwarding on, as NAT needs.
// A's datagram to B's address, sent to A's gateway, is routed by the host
// unless both bridges are isolated.
func TestIsolatedBridgesDoNotRoute(t *testing.T) {
	hostB := netip.MustParsePrefix("172.30.1.1/24")
	ipB1 := netip.MustParseAddr("172.30.1.2")
	for _, mode := range []string{"none", "one", "both"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns, g := newNSGuard(t)
			ns.Do(t, func() {
				writeSysctl(t, "net/ipv4/ip_forward", "1")
				brA := createBridge(t, "banger0", hostAddr)
				brB := createBridge(t, "banger1", hostB)
				a := openTAP(t, "bgt-0000000a", brA)
				b := openTAP(t, "bgt-0000000b", brB)
				for _, x := range []Binding{{TAP: a.name, MAC: macA, IP: ipA}, {TAP: b.name, MAC: macB, IP: ipB1}} {
					if err := g.Bind(ctx, x); err != nil {
						t.Fatal(err)
					}
				}
				if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: brB.Attrs().Index, State: netlink.NUD_PERMANENT,
					IP: ipB1.AsSlice(), HardwareAddr: macB}); err != nil {
					t.Fatal(err)
				}
				switch mode {
				case "both":
					if err := g.IsolateBridge(ctx, "banger1", true); err != nil {
						t.Fatal(err)
					}
					fallthrough
				case "one":
					if err := g.IsolateBridge(ctx, "banger0", true); err != nil {
						t.Fatal(err)
					}
				}
				gw, err := netlink.LinkByName("banger0")
				if err != nil {
					t.Fatal(err)
				}
				a.write(t, ether(gw.Attrs().HardwareAddr, macA, etherIPv4, udp4(ipA, ipB1, 9, 9, []byte(marker+"routed"))))

				// A datagram the host itself sends to B afterwards arrives
				// after the routed one, if that was let through.
				conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: ipB1.AsSlice(), Port: 9})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.Write([]byte(marker + "barrier")); err != nil {
					t.Fatal(err)
				}
				routed := false
				b.waitFor(t, "the host's datagram", func(f []byte) bool {
					routed = routed || markerOf(f) == "routed"
					return markerOf(f) == "barrier"
				})
				if want := mode != "both"; routed != want {
					t.Errorf("A's datagram routed to the other bridge: %v; want %v", routed, want)
				}
			})
		})
	}
}
