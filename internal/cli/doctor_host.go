package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"banger/internal/bundle"
	"banger/internal/config"
	"banger/internal/doctor"
	"banger/internal/execx"
	"banger/internal/network/nat"
	"banger/internal/paths"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
)

// vmmCheck says which VMM and accelerator VMs will use and why, booting
// the bundle kernel under KVM once (cached) to find out whether KVM really
// works on this host.
func vmmCheck(cfg config.Config, l paths.Layout, runtimeDir string) doctor.Check {
	return doctor.Func{CheckName: "vmm", CheckGroup: "vmm", Fn: func(ctx context.Context) (doctor.Status, string, string) {
		kernel := cfg.DefaultKernel
		if kernel == "" {
			if meta, err := bundle.Load(runtimeDir); err == nil {
				kernel = bundle.Path(runtimeDir, meta.KernelELF)
			}
		}
		fc := cfg.FirecrackerBin
		if fc == "" {
			fc, _ = execx.LookPath("firecracker")
		}
		_, qerr := execx.LookPath(qemuBin(cfg))
		var probe qemu.ProbeResult
		if kernel != "" && qerr == nil {
			probe = qemu.ProbeKVM(ctx, qemu.ProbeOptions{Binary: cfg.QemuBin, Kernel: kernel, CacheFile: l.ProbeCacheFile()})
		} else {
			probe = qemu.ProbeResult{Accel: "tcg", Reason: "KVM not probed (needs qemu and a bundle kernel)"}
		}
		// The same host check bangerd makes before choosing Firecracker:
		// version >= 1.8 and /dev/kvm open read-write.
		var fcVersion firecracker.Version
		fcErr := errors.New("no firecracker binary")
		if fc != "" {
			fcVersion, fcErr = firecracker.HostCheck{Binary: fc}.Check(ctx)
		}
		wantFC := cfg.VMM == "firecracker" || cfg.VMM == "auto"
		switch {
		case cfg.VMM == "firecracker" && fc == "":
			return doctor.Fail, "vmm = firecracker but no firecracker binary was found", "set firecracker_bin or put firecracker on PATH, or set vmm = \"auto\""
		case cfg.VMM == "firecracker" && fcErr != nil:
			return doctor.Fail, "vmm = firecracker but " + fcErr.Error(), firecrackerFix(fcErr)
		case wantFC && fcErr == nil && (probe.Usable || qerr != nil):
			return doctor.Pass, "firecracker " + fcVersion.String() + " on KVM (" + fc + ")", ""
		case qerr != nil:
			return doctor.Fail, "no usable VMM: qemu-system-x86_64 is missing and firecracker cannot be used", "apt-get install qemu-system-x86"
		case probe.Usable:
			return doctor.Pass, "qemu with KVM (" + probe.Reason + ")", ""
		}
		why := probe.Reason
		switch {
		case fc != "" && fcErr != nil:
			why += "; firecracker is not used: " + fcErr.Error()
		case fc != "":
			why += "; firecracker needs a KVM that can boot guests, so qemu is used"
		}
		return doctor.Warn, "qemu with TCG emulation, about 10x slower than KVM: " + why, "run banger on a host whose KVM can boot guests (bare metal or nested virtualisation enabled)"
	}}
}

// firecrackerFix is the hint for a failed firecracker.HostCheck.
func firecrackerFix(err error) string {
	switch {
	case errors.Is(err, firecracker.ErrTooOld):
		return "install Firecracker " + firecracker.MinVersion.String() + " or newer and point firecracker_bin at it, or set vmm = \"qemu\""
	case errors.Is(err, fs.ErrPermission):
		return "add yourself to the kvm group (sudo usermod -aG kvm $USER) and log in again"
	case errors.Is(err, fs.ErrNotExist):
		return "load the kvm module (modprobe kvm_intel or kvm_amd) or run on a host with virtualisation enabled, or set vmm = \"qemu\""
	}
	return "set vmm = \"qemu\" to use qemu instead"
}

func qemuBin(cfg config.Config) string {
	if cfg.QemuBin != "" {
		return cfg.QemuBin
	}
	return qemu.DefaultBinary
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
