package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary packets to the protocol logic. Whatever comes
// in, the server must not panic, must never answer a response or a packet
// shorter than a header, and every answer must be a well-formed DNS
// response to the same id that fits the transport.
func FuzzHandle(f *testing.F) {
	for _, m := range []*dns.Msg{
		q("calm-otter.vm.", dns.TypeA),
		q("nope.vm.", dns.TypeAAAA),
		q("vm.", dns.TypeSOA),
		q("example.com.", dns.TypeA),
		q(longVMName(255), dns.TypeA),
		func() *dns.Msg { m := q("calm-otter.vm.", dns.TypeA); m.SetEdns0(1232, true); return m }(),
	} {
		p, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, true)
		f.Add(p, false)
	}
	f.Add([]byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, true)
	f.Add([]byte{}, false)

	r := NewRecords()
	r.Set("calm-otter", netip.MustParseAddr("172.30.0.5"))
	a := answerer{records: r}
	f.Fuzz(func(t *testing.T, pkt []byte, udp bool) {
		resp := a.respond(pkt, udp)
		if len(pkt) < 12 || pkt[2]&0x80 != 0 {
			if resp != nil {
				t.Fatalf("answered a packet that must be dropped: %x", pkt)
			}
			return
		}
		if resp == nil {
			t.Fatalf("no answer to a query-shaped packet %x", pkt)
		}
		limit := dns.MaxMsgSize
		if udp {
			limit = maxUDP
		}
		if len(resp) < 12 || len(resp) > limit {
			t.Fatalf("answer of %d bytes", len(resp))
		}
		var m dns.Msg
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("answer does not parse: %v (%x)", err, resp)
		}
		if !m.Response || resp[0] != pkt[0] || resp[1] != pkt[1] {
			t.Fatalf("answer header %v for query id %x", m.MsgHdr, pkt[:2])
		}
		if len(m.Question) > 1 {
			t.Fatalf("answer has %d questions", len(m.Question))
		}
	})
}
