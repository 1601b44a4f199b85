package daemon

import (
	"context"
	"net/netip"
	"sync"
)

// startDNS starts the .vm DNS server on dns_listen. A failure to bind is
// not fatal: VMs work without it, and status/doctor report the error.
func startDNS(ctx context.Context, d *Daemon) dnsServer {
	return &noDNS{addr: d.cfg.DNSListen, err: "dns server not wired yet"}
}

type noDNS struct {
	mu   sync.Mutex
	addr string
	err  string
}

func (n *noDNS) Set(string, netip.Addr) {}
func (n *noDNS) Delete(string)          {}
func (n *noDNS) Addr() string           { return n.addr }
func (n *noDNS) Err() string            { return n.err }
func (n *noDNS) Close() error           { return nil }
