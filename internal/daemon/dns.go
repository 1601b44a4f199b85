package daemon

import (
	"context"
	"log/slog"
	"net/netip"

	"banger/internal/network/dns"
)

// vmDNS is the .vm DNS server. When dns_listen cannot be bound, VMs still
// work: records are kept, and status and doctor report why nothing serves.
type vmDNS struct {
	srv     *dns.Server
	records *dns.Records
	addr    string
	err     string
	log     *slog.Logger
}

// startDNS starts the .vm DNS server on dns_listen.
func startDNS(ctx context.Context, d *Daemon) dnsServer {
	v := &vmDNS{records: dns.NewRecords(), addr: d.cfg.DNSListen, log: d.log}
	v.srv = &dns.Server{Addr: d.cfg.DNSListen, Records: v.records, Logger: d.log}
	if err := v.srv.Start(ctx); err != nil {
		v.err = err.Error()
		v.srv = nil
		d.log.Error("dns server not started", "addr", d.cfg.DNSListen, "error", err)
		return v
	}
	v.addr = v.srv.LocalAddr().String()
	return v
}

func (v *vmDNS) Set(name string, addr netip.Addr) {
	if err := v.records.Set(name, addr); err != nil {
		v.log.Warn("dns record", "name", name, "error", err)
	}
}
func (v *vmDNS) Delete(name string) { v.records.Delete(name) }
func (v *vmDNS) Addr() string       { return v.addr }
func (v *vmDNS) Err() string        { return v.err }
func (v *vmDNS) Close() error {
	if v.srv == nil {
		return nil
	}
	return v.srv.Close()
}
