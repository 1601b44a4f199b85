package doctor

import (
	"context"
	"errors"
	"io/fs"

	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
	"banger/internal/vmm/resolve"
)

// VMMCheck says which VMM and accelerator new VMs will use and why. It asks
// the same resolver bangerd uses (in this process: doctor starts no
// daemon), booting kernel under KVM once (cached in probeCache) to find out
// whether KVM really works here.
func VMMCheck(in resolve.Inputs, qemuBin, kernel, probeCache string) Check {
	return Func{CheckName: "vmm", CheckGroup: "vmm", Fn: func(ctx context.Context) (Status, string, string) {
		in.Probe = func(ctx context.Context) qemu.ProbeResult {
			if kernel == "" {
				return qemu.ProbeResult{Accel: "tcg", Reason: "KVM not probed (no bundle kernel)"}
			}
			return qemu.ProbeKVM(ctx, qemu.ProbeOptions{Binary: qemuBin, Kernel: kernel, CacheFile: probeCache})
		}
		c, err := resolve.Resolve(ctx, in)
		switch {
		case err != nil && errors.Is(err, resolve.ErrNoFirecracker):
			return Fail, err.Error(), "set firecracker_bin or put firecracker on PATH, or set vmm = \"auto\""
		case err != nil && in.VMM == "firecracker":
			return Fail, err.Error(), FirecrackerFix(c.FirecrackerErr)
		case err != nil:
			return Fail, "no usable VMM: " + err.Error(), "apt-get install qemu-system-x86"
		case c.VMM == "firecracker":
			return Pass, "firecracker " + c.FirecrackerVersion.String() + " on KVM (" + c.Firecracker + ")", ""
		case c.Probe.Usable:
			return Pass, "qemu with KVM (" + c.Probe.Reason + ")", ""
		}
		why := c.Probe.Reason
		switch {
		case c.Firecracker != "" && c.FirecrackerErr != nil && in.VMM != "qemu":
			why += "; firecracker is not used: " + c.FirecrackerErr.Error()
		case c.Firecracker != "" && in.VMM != "qemu":
			why += "; firecracker needs a KVM that can boot guests, so qemu is used"
		}
		return Warn, "qemu with TCG emulation, about 10x slower than KVM: " + why, "run banger on a host whose KVM can boot guests (bare metal or nested virtualisation enabled)"
	}}
}

// FirecrackerFix is the hint for a failed firecracker.HostCheck.
func FirecrackerFix(err error) string {
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
