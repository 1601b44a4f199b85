package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRespond measures the protocol logic alone for a hit.
func BenchmarkRespond(b *testing.B) {
	r := NewRecords()
	r.Set("calm-otter", netip.MustParseAddr("172.30.0.5"))
	a := answerer{records: r}
	pkt, _ := q("calm-otter.vm.", dns.TypeA).Pack()
	b.ReportAllocs()
	for b.Loop() {
		if a.respond(pkt, true) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkUDPRoundTrip measures one query/answer over loopback UDP.
func BenchmarkUDPRoundTrip(b *testing.B) {
	r := NewRecords()
	r.Set("calm-otter", netip.MustParseAddr("172.30.0.5"))
	s := &Server{Addr: "127.0.0.1:0", Records: r}
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &dns.Client{Net: "udp"}
	conn, err := c.Dial(s.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := q("calm-otter.vm.", dns.TypeA)
	for b.Loop() {
		if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
			b.Fatal(err)
		}
	}
}
