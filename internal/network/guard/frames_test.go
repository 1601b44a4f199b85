package guard

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This file plays the guest: it opens TAPs as a VMM would and writes raw
// Ethernet frames into them.

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// guestTAP is a TAP opened as a VMM opens it, attached to a bridge. Frames
// the bridge sends out of it arrive on frames.
type guestTAP struct {
	name   string
	f      *os.File
	frames chan []byte
}

// openTAP creates a TAP held open by this process (it disappears when the
// descriptor closes), enslaves it to bridge and sets it up. It must run
// inside ns.Do.
func openTAP(t *testing.T, name string, bridge netlink.Link) *guestTAP {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		t.Fatalf("TUNSETIFF %s: %v", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	g := &guestTAP{name: name, f: os.NewFile(uintptr(fd), name), frames: make(chan []byte, 1024)}
	t.Cleanup(func() { g.f.Close() })
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetMaster(link, bridge); err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(g.frames)
		for {
			buf := make([]byte, 2048)
			n, err := g.f.Read(buf)
			if err != nil {
				return
			}
			g.frames <- buf[:n]
		}
	}()
	return g
}

func (g *guestTAP) write(t *testing.T, frame []byte) {
	t.Helper()
	if _, err := g.f.Write(frame); err != nil {
		t.Fatalf("write frame into %s: %v", g.name, err)
	}
}

// waitFor returns the frames g receives up to and including the first
// that done accepts. It fails the test if none arrives within a minute
// (a failure bound, not a measurement).
func (g *guestTAP) waitFor(t *testing.T, what string, done func([]byte) bool) [][]byte {
	t.Helper()
	var seen [][]byte
	timeout := time.After(time.Minute)
	for {
		select {
		case f, ok := <-g.frames:
			if !ok {
				t.Fatalf("%s closed while waiting for %s", g.name, what)
			}
			seen = append(seen, f)
			if done(f) {
				return seen
			}
		case <-timeout:
			t.Fatalf("%s: no %s arrived", g.name, what)
		}
	}
}

// createBridge makes a bridge with addr (host address/prefix) and sets it
// up. It must run inside ns.Do.
func createBridge(t *testing.T, name string, addr netip.Prefix) netlink.Link {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("create bridge %s: %v", name, err)
	}
	a, err := netlink.ParseAddr(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(br, a); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func writeSysctl(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/"+path, []byte(value+"\n"), 0o644); err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
}

// --- frame builders ---

const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherVLAN = 0x8100
	etherIPv6 = 0x86dd
)

func ether(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	b := append(append([]byte{}, dst...), src...)
	b = binary.BigEndian.AppendUint16(b, typ)
	return append(b, payload...)
}

// vlanEther is ether with an 802.1Q tag in front of typ.
func vlanEther(dst, src net.HardwareAddr, vid uint16, typ uint16, payload []byte) []byte {
	tag := binary.BigEndian.AppendUint16(nil, vid)
	tag = binary.BigEndian.AppendUint16(tag, typ)
	return ether(dst, src, etherVLAN, append(tag, payload...))
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func ipv4(src, dst netip.Addr, proto byte, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return append(h, payload...)
}

// udp4 is an IPv4 UDP datagram (checksum 0: none, which IPv4 allows).
func udp4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := binary.BigEndian.AppendUint16(nil, sport)
	u = binary.BigEndian.AppendUint16(u, dport)
	u = binary.BigEndian.AppendUint16(u, uint16(8+len(payload)))
	u = append(u, 0, 0)
	return ipv4(src, dst, unix.IPPROTO_UDP, append(u, payload...))
}

const (
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

func tcp4(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags byte) []byte {
	t := binary.BigEndian.AppendUint16(nil, sport)
	t = binary.BigEndian.AppendUint16(t, dport)
	t = binary.BigEndian.AppendUint32(t, seq)
	t = binary.BigEndian.AppendUint32(t, ack)
	t = append(t, 5<<4, flags)
	t = binary.BigEndian.AppendUint16(t, 65535)
	t = append(t, 0, 0, 0, 0)
	s, d := src.As4(), dst.As4()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, unix.IPPROTO_TCP)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(t)))
	binary.BigEndian.PutUint16(t[16:], checksum(append(pseudo, t...)))
	return ipv4(src, dst, unix.IPPROTO_TCP, t)
}

func arp(op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := []byte{0, 1, 8, 0, 6, 4}
	b = binary.BigEndian.AppendUint16(b, op)
	s, d := spa.As4(), tpa.As4()
	b = append(append(append(append(b, sha...), s[:]...), tha...), d[:]...)
	return b
}

// routerAdvert is an ICMPv6 router advertisement from src (link-local) to
// all nodes, with a router lifetime and a prefix information option that
// invites autoconfiguration: what a hostile guest sends to become the
// host's IPv6 router.
func routerAdvert(srcMAC net.HardwareAddr, src netip.Addr) []byte {
	ra := []byte{134, 0, 0, 0, 64, 0}
	ra = binary.BigEndian.AppendUint16(ra, 1800) // router lifetime
	ra = append(ra, 0, 0, 0, 0, 0, 0, 0, 0)      // reachable, retrans
	ra = append(ra, 1, 1)                        // source link-layer address
	ra = append(ra, srcMAC...)
	pi := []byte{3, 4, 64, 0xc0} // prefix info: /64, on-link + autonomous
	pi = binary.BigEndian.AppendUint32(pi, 86400)
	pi = binary.BigEndian.AppendUint32(pi, 14400)
	pi = append(pi, 0, 0, 0, 0)
	p := netip.MustParseAddr("2001:db8:1::").As16()
	ra = append(ra, append(pi, p[:]...)...)

	dst := netip.MustParseAddr("ff02::1")
	s, d := src.As16(), dst.As16()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(ra)))
	pseudo = append(pseudo, 0, 0, 0, unix.IPPROTO_ICMPV6)
	binary.BigEndian.PutUint16(ra[2:], checksum(append(pseudo, ra...)))

	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ra)))
	h[6] = unix.IPPROTO_ICMPV6
	h[7] = 255
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return ether(net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, srcMAC, etherIPv6, append(h, ra...))
}

// --- frame parsers ---

// isARPReply reports whether f is an ARP reply announcing ip.
func isARPReply(f []byte, ip netip.Addr) bool {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != etherARP || binary.BigEndian.Uint16(f[20:]) != 2 {
		return false
	}
	a := ip.As4()
	return bytes.Equal(f[28:32], a[:])
}

// tcpFrom returns the TCP flags, sequence number and ports of an IPv4 TCP
// frame, or ok=false.
func tcpFrom(f []byte) (flags byte, seq uint32, sport, dport uint16, ok bool) {
	if len(f) < 14+20+20 || binary.BigEndian.Uint16(f[12:]) != etherIPv4 || f[14+9] != unix.IPPROTO_TCP {
		return 0, 0, 0, 0, false
	}
	t := f[14+int(f[14]&0xf)*4:]
	return t[13], binary.BigEndian.Uint32(t[4:]), binary.BigEndian.Uint16(t[0:]), binary.BigEndian.Uint16(t[2:]), true
}
