package guard

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var (
	hostAddr = netip.MustParsePrefix("172.30.0.1/24")
	bcastIP  = netip.MustParseAddr("172.30.0.255")
	macA     = net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}
	macB     = net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}
	macC     = net.HardwareAddr{2, 0, 0, 0, 0, 0x0c}
	ipA      = netip.MustParseAddr("172.30.0.2")
	ipB      = netip.MustParseAddr("172.30.0.3")
	ipC      = netip.MustParseAddr("172.30.0.4")
)

const marker = "banger-guard-test:"

// markerOf returns the test marker a frame carries, or "".
func markerOf(f []byte) string {
	i := bytes.Index(f, []byte(marker))
	if i < 0 {
		return ""
	}
	return string(f[i+len(marker):])
}

// TestSpoofedFramesDropped writes, from guest A's TAP, frames that claim
// another guest's MAC or IP (plain, in ARP, behind a VLAN tag), frames of
// other ethertypes, and frames from an unbound banger TAP, then a correct
// frame. All are broadcasts, so guest B sees whatever the bridge lets
// through; the correct frame arriving on B means every earlier one was
// processed. Without the guard every spoofed frame must arrive (so the
// test can see them), with it none may.
func TestSpoofedFramesDropped(t *testing.T) {
	spoofed := map[string][]byte{
		"foreign-mac":     ether(broadcast, macB, etherIPv4, udp4(ipA, bcastIP, 9, 9, []byte(marker+"foreign-mac"))),
		"foreign-ip":      ether(broadcast, macA, etherIPv4, udp4(ipB, bcastIP, 9, 9, []byte(marker+"foreign-ip"))),
		"arp-foreign-ip":  ether(broadcast, macA, etherARP, append(arp(2, macA, ipB, broadcast, ipB), []byte(marker+"arp-foreign-ip")...)),
		"arp-foreign-mac": ether(broadcast, macA, etherARP, append(arp(2, macB, ipA, broadcast, ipA), []byte(marker+"arp-foreign-mac")...)),
		"vlan-foreign-ip": vlanEther(broadcast, macA, 5, etherIPv4, udp4(ipB, bcastIP, 9, 9, []byte(marker+"vlan-foreign-ip"))),
		"vlan-own-ip":     vlanEther(broadcast, macA, 5, etherIPv4, udp4(ipA, bcastIP, 9, 9, []byte(marker+"vlan-own-ip"))),
		"other-ethertype": ether(broadcast, macA, 0x88b5, []byte(marker+"other-ethertype")),
		"unbound-tap":     nil, // written from C below
	}
	for _, guarded := range []bool{false, true} {
		name := map[bool]string{false: "without-guard", true: "with-guard"}[guarded]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns, g := newNSGuard(t)
			ns.Do(t, func() {
				br := createBridge(t, "banger0", hostAddr)
				// Learn addresses from gratuitous ARP too, so a spoofed
				// announcement would show in the neighbour table.
				writeSysctl(t, "net/ipv4/conf/banger0/arp_accept", "1")
				a := openTAP(t, "bgt-0000000a", br)
				b := openTAP(t, "bgt-0000000b", br)
				c := openTAP(t, "bgt-0000000c", br)
				if guarded {
					for _, x := range []Binding{{TAP: a.name, MAC: macA, IP: ipA}, {TAP: b.name, MAC: macB, IP: ipB}} {
						if err := g.Bind(ctx, x); err != nil {
							t.Fatal(err)
						}
					}
				}
				keys := make([]string, 0, len(spoofed))
				for k, f := range spoofed {
					if f != nil {
						a.write(t, f)
					}
					keys = append(keys, k)
				}
				c.write(t, ether(broadcast, macC, etherIPv4, udp4(ipC, bcastIP, 9, 9, []byte(marker+"unbound-tap"))))
				a.write(t, ether(broadcast, macA, etherIPv4, udp4(ipA, bcastIP, 9, 9, []byte(marker+"legit"))))

				seen := b.waitFor(t, "the correct frame", func(f []byte) bool { return markerOf(f) == "legit" })
				var got []string
				for _, f := range seen {
					if m := markerOf(f); m != "" && m != "legit" {
						got = append(got, m)
					}
				}
				sort.Strings(got)
				sort.Strings(keys)
				want := keys
				if guarded {
					want = nil
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("B received spoofed frames %v; want %v", got, want)
				}

				// The host's view: who is 172.30.0.3, and where MAC B lives.
				neighMAC := ""
				neighs, err := netlink.NeighList(br.Attrs().Index, unix.AF_INET)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range neighs {
					if n.IP.Equal(ipB.AsSlice()) {
						neighMAC = n.HardwareAddr.String()
					}
				}
				poisoned := neighMAC == macA.String()
				learnedB := false
				fdb, err := netlink.NeighList(0, unix.AF_BRIDGE)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range fdb {
					if bytes.Equal(n.HardwareAddr, macB) {
						learnedB = true
					}
				}
				if poisoned != !guarded || learnedB != !guarded {
					t.Errorf("host neighbour for %s = %q (poisoned %v), bridge learned MAC B from A's frame: %v; want both %v",
						ipB, neighMAC, poisoned, learnedB, !guarded)
				}
			})
		})
	}
}
