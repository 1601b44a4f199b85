package guard

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestHostAccessBlock has guest A open TCP connections to a listener on
// the host's bridge address. Blocked, A's SYN gets no answer and is
// counted by the drop rule, while guest-to-guest traffic and a connection
// the host opens to A still work; allowed again, the host answers.
func TestHostAccessBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, g := newNSGuard(t)
	host := hostAddr.Addr()
	ns.Do(t, func() {
		br := createBridge(t, "banger0", hostAddr)
		a := openTAP(t, "bgt-0000000a", br)
		b := openTAP(t, "bgt-0000000b", br)
		// Read after the ports join: a bridge takes its MAC from them.
		brLink, err := netlink.LinkByName("banger0")
		if err != nil {
			t.Fatal(err)
		}
		brMAC := brLink.Attrs().HardwareAddr
		for _, x := range []Binding{{TAP: a.name, MAC: macA, IP: ipA}, {TAP: b.name, MAC: macB, IP: ipB}} {
			if err := g.Bind(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		// The host knows A, so its answers need no ARP exchange.
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: br.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: ipA.AsSlice(), HardwareAddr: macA}); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort(host.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := uint16(ln.Addr().(*net.TCPAddr).Port)

		// connect sends A's SYN and reports whether the host answered
		// SYN-ACK before it answered a later ARP request.
		connect := func(sport uint16) bool {
			t.Helper()
			a.write(t, ether(brMAC, macA, etherIPv4, tcp4(ipA, host, sport, port, 1000, 0, tcpSYN)))
			a.write(t, ether(broadcast, macA, etherARP, arp(1, macA, ipA, broadcast, host)))
			answered := false
			a.waitFor(t, "the host's ARP reply", func(f []byte) bool {
				if flags, _, sp, dp, ok := tcpFrom(f); ok && sp == port && dp == sport && flags&(tcpSYN|tcpACK) == tcpSYN|tcpACK {
					answered = true
				}
				return isARPReply(f, host)
			})
			return answered
		}

		if !connect(40000) {
			t.Fatal("without a block the host did not answer the guest's SYN; the test cannot see a block")
		}
		for range 2 {
			if err := g.SetHostAccess(ctx, "banger0", hostAddr, false); err != nil {
				t.Fatal(err)
			}
		}
		if connect(40001) {
			t.Error("blocked: the host answered the guest's SYN")
		}
		if n := dropCount(t, ctx, ns.Exec); n < 1 {
			t.Errorf("blocked: drop rule counted %d packets; want the SYN", n)
		}

		// Guest to guest is bridged, never seen by the host's input hook.
		a.write(t, ether(macB, macA, etherIPv4, udp4(ipA, ipB, 9, 9, []byte(marker+"a-to-b"))))
		b.waitFor(t, "A's datagram", func(f []byte) bool { return markerOf(f) == "a-to-b" })

		// The host opens a connection to A (as SSH does): A's replies
		// belong to it and pass.
		done := make(chan error, 1)
		go func() { done <- answerSYN(a, brMAC, 22) }()
		d := net.Dialer{}
		dctx, dcancel := context.WithTimeout(ctx, time.Minute)
		conn, err := d.DialContext(dctx, "tcp4", net.JoinHostPort(ipA.String(), "22"))
		dcancel()
		if err != nil {
			t.Errorf("blocked: host's connection to the guest failed: %v", err)
		} else {
			conn.Close()
		}
		if err := <-done; err != nil {
			t.Error(err)
		}

		for range 2 {
			if err := g.SetHostAccess(ctx, "banger0", hostAddr, true); err != nil {
				t.Fatal(err)
			}
		}
		if !connect(40002) {
			t.Error("allowed again: the host did not answer the guest's SYN")
		}
	})
}

// answerSYN plays the guest's side of a connection the host opens to
// port: it answers the host's SYN with a SYN-ACK.
func answerSYN(a *guestTAP, hostMAC net.HardwareAddr, port uint16) error {
	timeout := time.After(time.Minute)
	for {
		select {
		case f, ok := <-a.frames:
			if !ok {
				return fmt.Errorf("%s closed before the host's SYN", a.name)
			}
			flags, seq, sport, dport, ok := tcpFrom(f)
			if !ok || dport != port || flags != tcpSYN {
				continue
			}
			_, err := a.f.Write(ether(hostMAC, macA, etherIPv4, tcp4(ipA, hostAddr.Addr(), port, sport, 5000, seq+1, tcpSYN|tcpACK)))
			return err
		case <-timeout:
			return fmt.Errorf("no SYN from the host arrived on %s", a.name)
		}
	}
}

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// dropCount is the packet count of the host-access drop rule of banger0.
func dropCount(t *testing.T, ctx context.Context, exec func(context.Context, ...string) ([]byte, error)) int {
	t.Helper()
	out, err := exec(ctx, nftPath, "list", "chain", "inet", "banger", "host-banger0")
	if err != nil {
		t.Fatalf("list host access chain: %v", err)
	}
	m := counterRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no counter in host access chain:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
