package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Status says who holds the DNS address.
type Status int

const (
	// AddrFree: nothing listens there; bangerd can bind it.
	AddrFree Status = iota
	// AddrBanger: a bangerd DNS server answers there.
	AddrBanger
	// AddrForeign: another program holds the port.
	AddrForeign
)

func (s Status) String() string {
	switch s {
	case AddrFree:
		return "free"
	case AddrBanger:
		return "served by bangerd"
	case AddrForeign:
		return "in use by another program"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Check reports, for doctor, whether addr (e.g. DefaultAddr) is free or
// already served by a bangerd; an error means it could not tell (a bad
// address, or a bind refused for a reason other than "in use").
func Check(ctx context.Context, addr string) (Status, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, fmt.Errorf("dns address %q: %w", addr, err)
	}
	udp, tcp, err := bindBoth(ap)
	if err == nil {
		udp.Close()
		tcp.Close()
		return AddrFree, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return 0, fmt.Errorf("bind %s: %w", addr, err)
	}
	if Identify(ctx, ap) {
		return AddrBanger, nil
	}
	return AddrForeign, nil
}

// Identify asks the server at ap who it is (id.server. CH TXT) and reports
// whether it is a bangerd.
func Identify(ctx context.Context, ap netip.AddrPort) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	m.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	resp, _, err := c.ExchangeContext(ctx, m, net.JoinHostPort(ap.Addr().String(), fmt.Sprint(ap.Port())))
	if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		return false
	}
	txt, ok := resp.Answer[0].(*dns.TXT)
	return ok && len(txt.Txt) == 1 && txt.Txt[0] == identity
}
