package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"banger/internal/bundle"
	"banger/internal/execx"
	"banger/internal/paths"
)

// Tool is a host program banger runs, with the Debian package providing it.
type Tool struct {
	Name, Package, Why string
	Optional           bool
}

// CoreTools are the programs VM lifecycle and disks need.
var CoreTools = []Tool{
	{"mkfs.ext4", "e2fsprogs", "create overlay and work disks", false},
	{"e2fsck", "e2fsprogs", "check work disks before growing them", false},
	{"resize2fs", "e2fsprogs", "grow work disks", false},
	{"debugfs", "e2fsprogs", "write guest config into overlays", false},
	{"e2cp", "e2tools", "copy files into guest images (image builds)", true},
	{"ssh", "openssh-client", "`banger vm ssh`", false},
	{"cp", "coreutils", "clone work seeds (reflink/sparse)", false},
	{"iptables", "iptables", "NAT for `--nat` VMs", true},
	{"nft", "nftables", "per-VM anti-spoofing and guest isolation (every VM needs it)", false},
}

// ToolChecks returns one check per tool.
func ToolChecks(tools []Tool) []Check {
	var out []Check
	for _, t := range tools {
		t := t
		out = append(out, Func{CheckName: "tool " + t.Name, CheckGroup: "host tools", Fn: func(context.Context) (Status, string, string) {
			p, err := execx.LookPath(t.Name)
			if err != nil {
				st := Fail
				if t.Optional {
					st = Warn
				}
				return st, fmt.Sprintf("%s not found (needed to %s)", t.Name, t.Why), "apt-get install " + t.Package
			}
			return Pass, p, ""
		}})
	}
	return out
}

// VMMToolCheck passes when qemu-system-x86_64 or firecracker is present.
func VMMToolCheck(firecrackerBin string) Check {
	return Func{CheckName: "vmm binary", CheckGroup: "host tools", Fn: func(context.Context) (Status, string, string) {
		var found []string
		if firecrackerBin != "" {
			if _, err := os.Stat(firecrackerBin); err == nil {
				found = append(found, "firecracker ("+firecrackerBin+")")
			}
		} else if p, err := execx.LookPath("firecracker"); err == nil {
			found = append(found, "firecracker ("+p+")")
		}
		if p, err := execx.LookPath("qemu-system-x86_64"); err == nil {
			found = append(found, "qemu ("+p+")")
		}
		if len(found) == 0 {
			return Fail, "neither firecracker nor qemu-system-x86_64 found", "apt-get install qemu-system-x86, or put a firecracker binary on PATH / set firecracker_bin"
		}
		return Pass, strings.Join(found, ", "), ""
	}}
}

// DeviceChecks cover /dev/kvm, /dev/net/tun and /dev/vhost-vsock.
func DeviceChecks() []Check {
	return []Check{
		Func{CheckName: "/dev/kvm", CheckGroup: "devices", Fn: func(context.Context) (Status, string, string) {
			f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
			if errors.Is(err, os.ErrNotExist) {
				return Warn, "/dev/kvm is missing: VMs run under qemu TCG emulation (slow)", "enable virtualisation in firmware and load kvm_intel/kvm_amd"
			}
			if err != nil {
				return Warn, "/dev/kvm is not writable: " + err.Error() + "; VMs fall back to qemu TCG", "add yourself to the kvm group: sudo usermod -aG kvm $USER (then log in again)"
			}
			f.Close()
			return Pass, "present and writable (whether it can boot guests is the vmm check's job)", ""
		}},
		Func{CheckName: "/dev/net/tun", CheckGroup: "devices", Fn: func(context.Context) (Status, string, string) {
			if _, err := os.Stat("/dev/net/tun"); err != nil {
				return Fail, "/dev/net/tun is missing: VMs cannot get a network", "sudo modprobe tun"
			}
			return Pass, "present", ""
		}},
		Func{CheckName: "/dev/vhost-vsock", CheckGroup: "devices", Fn: func(context.Context) (Status, string, string) {
			if _, err := os.Stat("/dev/vhost-vsock"); err != nil {
				return Warn, "missing: qemu VMs reach the guest agent over virtio-serial instead (works, Firecracker does not need it)", "sudo modprobe vhost_vsock"
			}
			return Pass, "present", ""
		}},
	}
}

// BundleCheck verifies the runtime bundle.
func BundleCheck(dir string, source paths.RuntimeSource) Check {
	return Func{CheckName: "runtime bundle", CheckGroup: "runtime", Fn: func(context.Context) (Status, string, string) {
		if dir == "" || source == paths.SourceNone {
			return Fail, "no runtime bundle found (looked at BANGER_RUNTIME_DIR, runtime_dir, ../lib/banger and ./runtime beside the binary)", "run `make runtime-bundle` in the source checkout, or set runtime_dir"
		}
		probs := bundle.Verify(dir)
		if len(probs) == 0 {
			return Pass, fmt.Sprintf("%s (from %s)", dir, source), ""
		}
		var msgs []string
		for _, p := range probs {
			msgs = append(msgs, p.Item+": "+p.Message)
		}
		return Fail, fmt.Sprintf("%s (from %s): %s", dir, source, strings.Join(msgs, "; ")), probs[0].Fix
	}}
}

// RuntimeDirCheck notes a missing XDG_RUNTIME_DIR, refuses a /tmp fallback
// that is not the user's own private directory, and a too-long socket path.
func RuntimeDirCheck(l paths.Layout) Check {
	return Func{CheckName: "runtime dir", CheckGroup: "daemon", Fn: func(context.Context) (Status, string, string) {
		if err := paths.CheckSocketPath(l.Socket()); err != nil {
			return Fail, err.Error(), "set XDG_RUNTIME_DIR to a short path such as /run/user/$(id -u)"
		}
		if err := l.CheckRuntimeDir(); err != nil {
			return Fail, err.Error(), "set XDG_RUNTIME_DIR to a private directory (export XDG_RUNTIME_DIR=/run/user/$(id -u)), or remove " + l.RuntimeDir + " as its owner or root"
		}
		if l.RuntimeFallback {
			return Warn, "XDG_RUNTIME_DIR is unset; using " + l.RuntimeDir, "log in through a session that sets XDG_RUNTIME_DIR (systemd-logind does) or export it"
		}
		return Pass, l.RuntimeDir, ""
	}}
}

// DNSListenCheck passes when addr is free or held by a running bangerd.
func DNSListenCheck(addr, daemonDNS, daemonDNSError string, daemonRunning bool) Check {
	return Func{CheckName: "dns listen address", CheckGroup: "dns", Fn: func(context.Context) (Status, string, string) {
		if daemonRunning && daemonDNSError != "" {
			return Fail, "bangerd is running but not serving .vm names on " + addr + ": " + daemonDNSError,
				"another program or another banger installation holds " + addr + ": set dns_listen in ~/.config/banger/config.toml to a free host:port and restart bangerd (banger daemon stop)"
		}
		if daemonRunning && daemonDNS == addr {
			return Pass, addr + " is served by bangerd", ""
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return Fail, addr + " is in use by another program", "set dns_listen in ~/.config/banger/config.toml to a free address"
			}
			return Fail, addr + ": " + err.Error(), "set dns_listen to a free host:port"
		}
		pc.Close()
		return Pass, addr + " is free (bangerd will serve .vm there)", ""
	}}
}
