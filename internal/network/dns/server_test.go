package dns

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var otterIP = netip.MustParseAddr("172.30.0.5")

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	r := NewRecords()
	if err := r.Set("calm-otter", otterIP); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: "127.0.0.1:0", Records: r}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.LocalAddr().String()
}

func query(t *testing.T, addr, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %v: %v", network, m.Question, err)
	}
	if resp.Id != m.Id || !resp.Response {
		t.Fatalf("response id/QR wrong: %v", resp.MsgHdr)
	}
	return resp
}

func q(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func TestServerAnswers(t *testing.T) {
	_, addr := startServer(t)
	type want struct {
		rcode   int
		aa      bool
		answer  []string // "TYPE rdata"
		soaInNs bool
	}
	longName := longVMName(255)
	for _, tc := range []struct {
		name string
		msg  *dns.Msg
		want want
	}{
		{"A", q("calm-otter.vm.", dns.TypeA), want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"A 172.30.0.5"}}},
		{"A mixed case", q("CaLm-OTTER.Vm.", dns.TypeA), want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"A 172.30.0.5"}}},
		{"ANY", q("calm-otter.vm.", dns.TypeANY), want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"A 172.30.0.5"}}},
		{"AAAA is NODATA", q("calm-otter.vm.", dns.TypeAAAA), want{rcode: dns.RcodeSuccess, aa: true, soaInNs: true}},
		{"MX is NODATA", q("calm-otter.vm.", dns.TypeMX), want{rcode: dns.RcodeSuccess, aa: true, soaInNs: true}},
		{"unknown name", q("nope.vm.", dns.TypeA), want{rcode: dns.RcodeNameError, aa: true, soaInNs: true}},
		{"below a name", q("www.calm-otter.vm.", dns.TypeA), want{rcode: dns.RcodeNameError, aa: true, soaInNs: true}},
		{"255-byte name", q(longName, dns.TypeA), want{rcode: dns.RcodeNameError, aa: true, soaInNs: true}},
		{"apex SOA", q("vm.", dns.TypeSOA), want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"SOA vm."}}},
		{"apex NS", q("VM.", dns.TypeNS), want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"NS vm."}}},
		{"apex A", q("vm.", dns.TypeA), want{rcode: dns.RcodeSuccess, aa: true, soaInNs: true}},
		{"outside the zone", q("example.com.", dns.TypeA), want{rcode: dns.RcodeRefused}},
		{"lookalike zone", q("calm-otter.xvm.", dns.TypeA), want{rcode: dns.RcodeRefused}},
		{"root", q(".", dns.TypeNS), want{rcode: dns.RcodeRefused}},
		{"AXFR", q("vm.", dns.TypeAXFR), want{rcode: dns.RcodeRefused}},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				resp := query(t, addr, network, tc.msg)
				if resp.Rcode != tc.want.rcode || resp.Authoritative != tc.want.aa || resp.RecursionAvailable {
					t.Fatalf("rcode %s aa %v ra %v; want %s aa %v", dns.RcodeToString[resp.Rcode], resp.Authoritative,
						resp.RecursionAvailable, dns.RcodeToString[tc.want.rcode], tc.want.aa)
				}
				if len(resp.Question) != 1 || resp.Question[0] != tc.msg.Question[0] {
					t.Errorf("question not echoed: %v", resp.Question)
				}
				var got []string
				for _, rr := range resp.Answer {
					if rr.Header().Name != tc.msg.Question[0].Name {
						t.Errorf("answer owner %q, want the name as asked %q", rr.Header().Name, tc.msg.Question[0].Name)
					}
					switch v := rr.(type) {
					case *dns.A:
						got = append(got, "A "+v.A.String())
						if v.Hdr.Ttl != TTL {
							t.Errorf("A TTL %d", v.Hdr.Ttl)
						}
					case *dns.SOA:
						got = append(got, "SOA "+v.Ns)
					case *dns.NS:
						got = append(got, "NS "+v.Ns)
					default:
						got = append(got, rr.String())
					}
				}
				if strings.Join(got, ",") != strings.Join(tc.want.answer, ",") {
					t.Errorf("answers %v, want %v", got, tc.want.answer)
				}
				hasSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tc.want.soaInNs {
					t.Errorf("authority %v, want SOA: %v", resp.Ns, tc.want.soaInNs)
				}
				if hasSOA && resp.Ns[0].(*dns.SOA).Minttl != TTL {
					t.Errorf("negative TTL %d", resp.Ns[0].(*dns.SOA).Minttl)
				}
			})
		}
	}
}

// longVMName builds a name under vm. whose wire form is exactly n bytes.
func longVMName(n int) string {
	// wire length = sum(1+len(label)) + 1 for the root; "vm" takes 3.
	rest := n - 1 - 3
	var labels []string
	for rest > 0 {
		l := min(63, rest-1)
		labels = append(labels, strings.Repeat("x", l))
		rest -= l + 1
	}
	return strings.Join(labels, ".") + ".vm."
}

func TestLongNameIsMaximal(t *testing.T) {
	name := longVMName(255)
	buf := make([]byte, 300)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil || n != 255 {
		t.Fatalf("packed %q to %d bytes (%v), want 255", name, n, err)
	}
	if _, err := dns.PackDomainName("x"+name, buf, 0, nil, false); err == nil {
		t.Fatal("a 256-byte name packed")
	}
}

func TestServerRecordChangesAreLive(t *testing.T) {
	s, addr := startServer(t)
	serial := query(t, addr, "udp", q("vm.", dns.TypeSOA)).Answer[0].(*dns.SOA).Serial
	if err := s.Records.Set("new-vm", netip.MustParseAddr("172.30.0.9")); err != nil {
		t.Fatal(err)
	}
	if got := query(t, addr, "udp", q("new-vm.vm.", dns.TypeA)); len(got.Answer) != 1 {
		t.Fatalf("new record not served: %v", got)
	}
	if s2 := query(t, addr, "udp", q("vm.", dns.TypeSOA)).Answer[0].(*dns.SOA).Serial; s2 == serial {
		t.Error("SOA serial did not change")
	}
	s.Records.Delete("new-vm")
	if got := query(t, addr, "tcp", q("new-vm.vm.", dns.TypeA)); got.Rcode != dns.RcodeNameError {
		t.Fatalf("deleted record still served: %v", got)
	}
}

func TestServerProtocolEdges(t *testing.T) {
	_, addr := startServer(t)

	// EDNS: answered with an OPT of our own; unknown version → BADVERS.
	m := q("calm-otter.vm.", dns.TypeA)
	m.SetEdns0(4096, true)
	resp := query(t, addr, "udp", m)
	if opt := resp.IsEdns0(); opt == nil || opt.UDPSize() != maxUDP || opt.Do() {
		t.Errorf("EDNS response OPT = %v", resp.IsEdns0())
	}
	m.IsEdns0().SetVersion(1)
	if resp := query(t, addr, "udp", m); resp.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[resp.Rcode])
	}

	// Not a query → NOTIMP.
	m = q("vm.", dns.TypeSOA)
	m.Opcode = dns.OpcodeUpdate
	if resp := query(t, addr, "udp", m); resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: rcode %s", dns.RcodeToString[resp.Rcode])
	}

	// Two questions → FORMERR.
	m = q("calm-otter.vm.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	if resp := query(t, addr, "tcp", m); resp.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: rcode %s", dns.RcodeToString[resp.Rcode])
	}

	// Identity for Check.
	m = q("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if resp := query(t, addr, "udp", m); len(resp.Answer) != 1 || resp.Answer[0].(*dns.TXT).Txt[0] != identity {
		t.Errorf("id.server: %v", resp)
	}
	m = q("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if resp := query(t, addr, "udp", m); resp.Rcode != dns.RcodeRefused {
		t.Errorf("other CHAOS query: %s", dns.RcodeToString[resp.Rcode])
	}
}

// rawUDP sends one datagram and returns the reply, or nil after a timeout.
func rawUDP(t *testing.T, addr string, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestServerGarbage(t *testing.T) {
	_, addr := startServer(t)
	good, _ := q("calm-otter.vm.", dns.TypeA).Pack()

	// Shorter than a header, or a response: dropped.
	for name, pkt := range map[string][]byte{
		"short":    {1, 2, 3},
		"response": append([]byte{good[0], good[1], good[2] | 0x80}, good[3:]...),
	} {
		if resp := rawUDP(t, addr, pkt, 300*time.Millisecond); resp != nil {
			t.Errorf("%s packet answered: %x", name, resp)
		}
	}
	// A header promising a question that is not there, and a truncated
	// question: FORMERR echoing the id, RD and opcode.
	for name, pkt := range map[string][]byte{
		"header only":        {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0},
		"truncated question": append([]byte{0xbe, 0xef}, good[2:len(good)-3]...),
		"bad label length":   {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0, 1, 0, 1},
	} {
		resp := rawUDP(t, addr, pkt, 2*time.Second)
		var m dns.Msg
		if resp == nil || m.Unpack(resp) != nil {
			t.Errorf("%s: no parseable answer (%x)", name, resp)
			continue
		}
		if m.Id != 0xbeef || !m.Response || m.Rcode != dns.RcodeFormatError || !m.RecursionDesired {
			t.Errorf("%s: answer %v, want FORMERR for id 0xbeef with RD", name, m.MsgHdr)
		}
	}
	// The server still works afterwards.
	query(t, addr, "udp", q("calm-otter.vm.", dns.TypeA))
}

func TestServerTCPFraming(t *testing.T) {
	_, addr := startServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Two pipelined queries in one write get two answers in order.
	var out []byte
	for i, name := range []string{"calm-otter.vm.", "nope.vm."} {
		m := q(name, dns.TypeA)
		m.Id = uint16(100 + i)
		p, _ := m.Pack()
		out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
		out = append(out, p...)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	for i, rcode := range []int{dns.RcodeSuccess, dns.RcodeNameError} {
		var l [2]byte
		if _, err := readFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := readFull(c, buf); err != nil {
			t.Fatal(err)
		}
		var m dns.Msg
		if err := m.Unpack(buf); err != nil || m.Id != uint16(100+i) || m.Rcode != rcode {
			t.Fatalf("answer %d: %v %v", i, m.MsgHdr, err)
		}
	}
	// A zero length prefix ends the connection.
	c.Write([]byte{0, 0})
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after a zero-length message")
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// waitFor polls cond until it holds, failing the test after a minute: far
// longer than anything here takes on a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *Server) tcpConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestServerTCPConnectionCap(t *testing.T) {
	// Idle connections must keep their slots for the whole test, however
	// slowly it runs.
	// Restored after the server's own cleanup has stopped it.
	old := tcpIdleTimeout
	t.Cleanup(func() { tcpIdleTimeout = old })
	tcpIdleTimeout = time.Hour
	s, addr := startServer(t)
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxTCPConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, "the server to accept every connection", func() bool { return s.tcpConnCount() == maxTCPConns })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Refused, it reads EOF at once; accepted, it would idle for an hour.
	extra.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := extra.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("connection over the cap was not closed: %v", err)
	}
	extra.Close()
	// UDP is unaffected, and a freed slot is usable again.
	query(t, addr, "udp", q("calm-otter.vm.", dns.TypeA))
	idle[0].Close()
	idle = idle[1:]
	// The slot is released once the server sees the close: a TCP query
	// gets through then.
	var lastErr error
	waitFor(t, "a TCP query through the freed slot", func() bool {
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		_, _, lastErr = c.Exchange(q("calm-otter.vm.", dns.TypeA), addr)
		return lastErr == nil
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestServerFlood sends a burst of UDP queries from several sockets and
// checks that the server's heap and goroutine count do not grow with it.
func TestServerFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood in -short mode")
	}
	_, addr := startServer(t)
	query(t, addr, "udp", q("calm-otter.vm.", dns.TypeA)) // warm up
	heapBefore, gBefore := heapInUse(), runtime.NumGoroutine()

	const senders, perSender = 8, 5000
	var answered atomic.Int64
	var wg sync.WaitGroup
	pkt, _ := q("calm-otter.vm.", dns.TypeA).Pack()
	for range senders {
		wg.Go(func() {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 512)
				for {
					c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
					if _, err := c.Read(buf); err != nil {
						return
					}
					answered.Add(1)
				}
			}()
			for range perSender {
				c.Write(pkt)
			}
			<-done
		})
	}
	wg.Wait()
	if answered.Load() == 0 {
		t.Fatal("no query answered during the flood")
	}
	// What the flood allocated or started must be released: the heap and
	// the goroutine count come back near where they were. Polled, since
	// the last handlers and the race detector's bookkeeping may lag on a
	// loaded machine; a leak keeps them up for good.
	heapAfter, gAfter := heapInUse(), runtime.NumGoroutine()
	deadline := time.Now().Add(time.Minute)
	for heapAfter > heapBefore+4<<20 || gAfter > gBefore+2 {
		if time.Now().After(deadline) {
			t.Errorf("a minute after the flood the heap is %d KiB (was %d KiB) and %d goroutines run (were %d)",
				heapAfter>>10, heapBefore>>10, gAfter, gBefore)
			break
		}
		time.Sleep(50 * time.Millisecond)
		heapAfter, gAfter = heapInUse(), runtime.NumGoroutine()
	}
	t.Logf("flood: %d of %d queries answered; heap in use %d KiB -> %d KiB; goroutines %d -> %d",
		answered.Load(), senders*perSender, heapBefore>>10, heapAfter>>10, gBefore, gAfter)
	query(t, addr, "udp", q("calm-otter.vm.", dns.TypeA))
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestServerLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Addr: "127.0.0.1:0", Records: NewRecords()}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := s.LocalAddr()
	if err := s.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	cancel()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := Check(context.Background(), addr.String())
		if err == nil && st == AddrFree {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("address still %v (%v) after ctx cancel", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after ctx cancel: %v", err)
	}
	if err := (&Server{Addr: "nonsense", Records: NewRecords()}).Start(ctx); err == nil {
		t.Error("Start with a bad address succeeded")
	}
	if err := (&Server{Addr: "127.0.0.1:0"}).Start(ctx); err == nil {
		t.Error("Start without records succeeded")
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	s, addr := startServer(t)
	if st, err := Check(ctx, addr); err != nil || st != AddrBanger {
		t.Errorf("Check on our server = %v, %v", st, err)
	}
	// A program that holds the port but is not bangerd (it never answers).
	foreign, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	if st, err := Check(ctx, foreign.LocalAddr().String()); err != nil || st != AddrForeign {
		t.Errorf("Check on a foreign socket = %v, %v", st, err)
	}
	s.Close()
	if st, err := Check(ctx, addr); err != nil || st != AddrFree {
		t.Errorf("Check after Close = %v, %v", st, err)
	}
	if _, err := Check(ctx, "localhost"); err == nil {
		t.Error("Check accepted an address without a port")
	}
}

func TestRecipes(t *testing.T) {
	for _, tc := range []struct {
		got  string
		want []string
	}{
		{RecipeResolved(DefaultAddr, "banger0"), []string{"DNS=127.0.0.1:42069", "Domains=~vm", "resolvectl dns banger0 127.0.0.1:42069", "resolvectl domain banger0 '~vm'", "246"}},
		{RecipeDnsmasq(DefaultAddr), []string{"server=/vm/127.0.0.1#42069", "rebind-domain-ok=/vm/"}},
		{RecipePlain(DefaultAddr), []string{"dig @127.0.0.1 -p 42069"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.got, w) {
				t.Errorf("recipe lacks %q:\n%s", w, tc.got)
			}
		}
	}
}
