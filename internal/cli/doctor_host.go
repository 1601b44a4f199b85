package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"banger/internal/bundle"
	"banger/internal/config"
	"banger/internal/doctor"
	"banger/internal/network/nat"
	"banger/internal/paths"
	"banger/internal/vmm/resolve"
)

// vmmCheck asks the resolver bangerd uses which VMM new VMs get.
func vmmCheck(cfg config.Config, l paths.Layout, runtimeDir string) doctor.Check {
	kernel := cfg.DefaultKernel
	if kernel == "" {
		if meta, err := bundle.Load(runtimeDir); err == nil {
			kernel = bundle.Path(runtimeDir, meta.KernelELF)
		}
	}
	in := resolve.Inputs{VMM: cfg.VMM, FirecrackerBin: cfg.FirecrackerBin, QemuBin: cfg.QemuBin, RuntimeDir: runtimeDir}
	return doctor.VMMCheck(in, cfg.QemuBin, kernel, l.ProbeCacheFile())
}

// natCheck covers `--nat`: iptables present, its backend, forwarding.
func natCheck() doctor.Check {
	return doctor.Func{CheckName: "nat", CheckGroup: "network", Fn: func(ctx context.Context) (doctor.Status, string, string) {
		m := nat.New(nat.NewRunner())
		if os.Geteuid() != 0 {
			on, err := m.Forwarding()
			if err != nil {
				return doctor.Warn, err.Error(), ""
			}
			return doctor.Pass, fmt.Sprintf("ip_forward=%v (iptables is checked as root)", on), ""
		}
		st, err := m.Check(ctx)
		if err != nil {
			return doctor.Warn, "`--nat` will not work: " + err.Error(), "apt-get install iptables"
		}
		msg := fmt.Sprintf("iptables %s (%s backend)", st.Version, st.Backend)
		if !st.Forwarding {
			msg += "; ip_forward is off now and is switched on when the first --nat VM starts"
		}
		return doctor.Pass, msg, ""
	}}
}

// dnsRoutingCheck says whether the host resolver sends .vm to bangerd and
// how to make it do so.
func dnsRoutingCheck(cfg config.Config) doctor.Check {
	return doctor.Func{CheckName: ".vm lookups", CheckGroup: "dns", Fn: func(context.Context) (doctor.Status, string, string) {
		resolv, _ := os.ReadFile("/etc/resolv.conf")
		conf := string(resolv)
		for _, f := range []string{"/etc/systemd/resolved.conf.d/banger.conf", "/etc/dnsmasq.d/banger.conf", "/etc/NetworkManager/dnsmasq.d/banger.conf"} {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), cfg.DNSListen[strings.LastIndex(cfg.DNSListen, ":")+1:]) {
				return doctor.Pass, "routed to bangerd by " + f, ""
			}
		}
		how := "route .vm to " + cfg.DNSListen + ": "
		switch {
		case strings.Contains(conf, "127.0.0.53"):
			how += "systemd-resolved: printf '[Resolve]\\nDNS=" + cfg.DNSListen + "\\nDomains=~vm\\n' > /etc/systemd/resolved.conf.d/banger.conf && systemctl restart systemd-resolved"
		default:
			how += "install dnsmasq, add 'server=/vm/" + strings.Replace(cfg.DNSListen, ":", "#", 1) + "' and 'rebind-domain-ok=/vm/' to /etc/dnsmasq.d/banger.conf, and put 'nameserver 127.0.0.1' first in /etc/resolv.conf (README: Networking and DNS)"
		}
		return doctor.Warn, "the host resolver does not send .vm names to bangerd; `dig @" + strings.Replace(cfg.DNSListen, ":", " -p ", 1) + " NAME.vm` works meanwhile", how
	}}
}
