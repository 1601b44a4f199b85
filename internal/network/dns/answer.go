package dns

import (
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"
)

// Zone facts.
const (
	Zone = "vm."
	// TTL of answers and of negative answers (SOA minimum): short, because
	// VMs come and go and nothing is gained by caching them for long.
	TTL = 5
	// identity is the answer to "id.server. CH TXT" (RFC 4892); Check uses
	// it to recognise a running bangerd on the port.
	identity = "bangerd"
	// maxUDP is the largest UDP answer sent to an EDNS client (the DNS flag
	// day 2020 value); non-EDNS clients get 512 bytes.
	maxUDP = 1232
)

// answerer builds responses from raw queries; it is the whole protocol
// logic, kept apart from sockets so it can be tested and fuzzed directly.
type answerer struct{ records *Records }

// respond returns the wire response to one raw query, or nil when the
// packet must be dropped (too short to answer, or itself a response).
// udp selects UDP size limits (truncation with TC set).
func (a answerer) respond(raw []byte, udp bool) []byte {
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		return nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		return formErr(raw)
	}
	resp := a.build(req)
	limit := dns.MaxMsgSize
	if udp {
		limit = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			limit = max(dns.MinMsgSize, min(int(opt.UDPSize()), maxUDP))
		}
	}
	resp.Truncate(limit)
	out, err := resp.Pack()
	if err != nil {
		return servFail(raw)
	}
	return out
}

func (a answerer) build(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	opt := req.IsEdns0()
	reply := func(rcode int) *dns.Msg {
		resp.SetRcode(req, rcode)
		if opt != nil {
			resp.SetEdns0(maxUDP, false)
		}
		return resp
	}
	if req.Opcode != dns.OpcodeQuery {
		return reply(dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return reply(dns.RcodeFormatError)
	}
	if opt != nil && opt.Version() != 0 {
		return reply(dns.RcodeBadVers)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	if q.Qclass == dns.ClassCHAOS && q.Qtype == dns.TypeTXT && name == "id.server." {
		reply(dns.RcodeSuccess)
		resp.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
			Txt: []string{identity},
		}}
		return resp
	}
	if q.Qclass != dns.ClassINET || !dns.IsSubDomain(Zone, name) {
		return reply(dns.RcodeRefused)
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return reply(dns.RcodeRefused)
	}

	reply(dns.RcodeSuccess)
	resp.Authoritative = true
	labels := dns.SplitDomainName(name)
	switch len(labels) {
	case 1: // the apex
		switch q.Qtype {
		case dns.TypeSOA:
			resp.Answer = []dns.RR{a.soa(q.Name)}
		case dns.TypeNS:
			resp.Answer = []dns.RR{ns(q.Name)}
		case dns.TypeANY:
			resp.Answer = []dns.RR{a.soa(q.Name), ns(q.Name)}
		default:
			resp.Ns = []dns.RR{a.soa(Zone)}
		}
	case 2:
		addr, ok := a.records.Lookup(labels[0])
		switch {
		case !ok:
			resp.Rcode = dns.RcodeNameError
			resp.Ns = []dns.RR{a.soa(Zone)}
		case q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY:
			resp.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL},
				A:   addr.AsSlice(),
			}}
		default: // NODATA
			resp.Ns = []dns.RR{a.soa(Zone)}
		}
	default: // nothing exists below a VM name
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{a.soa(Zone)}
	}
	return resp
}

// soa is the zone's SOA record; owner is the apex as the client spelled it
// when it is an answer (answers echo the question's case).
func (a answerer) soa(owner string) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: owner, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:      Zone,
		Mbox:    "hostmaster." + Zone,
		Serial:  a.records.Serial(),
		Refresh: 60,
		Retry:   30,
		Expire:  3600,
		Minttl:  TTL,
	}
}

// ns names the apex itself as the zone's server: any other name would be a
// name a VM could take.
func ns(owner string) dns.RR {
	return &dns.NS{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: TTL}, Ns: Zone}
}

// formErr answers a query that does not parse: the header is echoed with
// QR set, RCODE FORMERR and all counts zero.
func formErr(raw []byte) []byte { return headerOnly(raw, dns.RcodeFormatError) }

func servFail(raw []byte) []byte { return headerOnly(raw, dns.RcodeServerFailure) }

func headerOnly(raw []byte, rcode int) []byte {
	out := make([]byte, 12)
	copy(out[:2], raw[:2])                              // id
	flags := binary.BigEndian.Uint16(raw[2:4]) & 0x7900 // opcode + RD
	binary.BigEndian.PutUint16(out[2:4], flags|0x8000|uint16(rcode))
	return out
}
