// Package resolve is the one place that decides which VMM new VMs use:
// where the binaries are (config, then the runtime bundle, then PATH),
// whether Firecracker can run here (version and /dev/kvm), and whether KVM
// really boots guests (qemu's cached boot probe). bangerd calls it to pick
// a driver and `banger doctor` calls it to explain the pick, in process,
// so the two can never disagree. It starts no daemon and changes nothing.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"os"

	"banger/internal/bundle"
	"banger/internal/execx"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
)

// Inputs are the settings and probes a choice depends on.
type Inputs struct {
	VMM            string // "auto", "firecracker" or "qemu" (config `vmm`)
	FirecrackerBin string // config `firecracker_bin`
	QemuBin        string // config `qemu_bin`
	RuntimeDir     string // the runtime bundle, which may ship firecracker
	// KVMDevice is what the Firecracker check opens (default /dev/kvm).
	KVMDevice string
	// Probe returns qemu's KVM boot probe (cached by the caller); nil or a
	// missing qemu means KVM is not known to boot guests.
	Probe func(context.Context) qemu.ProbeResult
}

// Choice is the decision and everything it was based on.
type Choice struct {
	VMM string // "firecracker" or "qemu"

	Firecracker        string // binary found, "" when none
	FirecrackerVersion firecracker.Version
	FirecrackerErr     error // why Firecracker cannot be used (nil: it can)

	Qemu    string // binary found, "" when none
	QemuErr error
	Probe   qemu.ProbeResult // zero when not probed
}

// FirecrackerBinary finds Firecracker: firecracker_bin, the bundle's, PATH.
func FirecrackerBinary(configured, runtimeDir string) string {
	if configured != "" {
		return configured
	}
	if meta, err := bundle.Load(runtimeDir); err == nil && meta.Firecracker != "" {
		p := bundle.Path(runtimeDir, meta.Firecracker)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := execx.LookPath("firecracker"); err == nil {
		return p
	}
	return ""
}

// QemuBinary is qemu_bin or the default qemu-system-x86_64.
func QemuBinary(configured string) string {
	if configured != "" {
		return configured
	}
	return qemu.DefaultBinary
}

// ErrNoFirecracker is vmm = firecracker without a firecracker binary.
var ErrNoFirecracker = errors.New("no firecracker binary was found (set firecracker_bin or put it on PATH)")

// Resolve applies `vmm`: auto prefers Firecracker when its binary exists,
// passes its host check (version >= 1.8, /dev/kvm opens read-write) and KVM
// really boots guests (or there is no qemu to probe with), else qemu (KVM
// or TCG per the probe). The returned Choice is filled in as far as it was
// looked at even when err is non-nil.
func Resolve(ctx context.Context, in Inputs) (Choice, error) {
	var c Choice
	c.Firecracker = FirecrackerBinary(in.FirecrackerBin, in.RuntimeDir)
	c.FirecrackerErr = ErrNoFirecracker
	if c.Firecracker != "" && in.VMM != "qemu" {
		c.FirecrackerVersion, c.FirecrackerErr = firecracker.HostCheck{Binary: c.Firecracker, KVMDevice: in.KVMDevice}.Check(ctx)
	}
	if p, err := execx.LookPath(QemuBinary(in.QemuBin)); err == nil {
		c.Qemu = p
	} else {
		c.QemuErr = err
	}
	probe := func() qemu.ProbeResult {
		if c.Qemu == "" || in.Probe == nil {
			return qemu.ProbeResult{Accel: "tcg", Reason: "KVM not probed (needs qemu and a kernel)"}
		}
		return in.Probe(ctx)
	}

	switch in.VMM {
	case "firecracker":
		if c.FirecrackerErr != nil {
			return c, fmt.Errorf("vmm = firecracker but %w", c.FirecrackerErr)
		}
		c.VMM = "firecracker"
		return c, nil
	case "qemu":
		if c.QemuErr != nil {
			return c, fmt.Errorf("vmm = qemu but %s was not found (apt-get install qemu-system-x86)", QemuBinary(in.QemuBin))
		}
		c.VMM, c.Probe = "qemu", probe()
		return c, nil
	}
	if c.FirecrackerErr == nil {
		if c.Qemu == "" {
			c.VMM = "firecracker" // no qemu to probe with; /dev/kvm opened
			return c, nil
		}
		if c.Probe = probe(); c.Probe.Usable {
			c.VMM = "firecracker"
			return c, nil
		}
	}
	if c.Qemu == "" {
		return c, errors.New("neither a usable firecracker nor qemu-system-x86_64 was found (apt-get install qemu-system-x86)")
	}
	if c.Probe == (qemu.ProbeResult{}) {
		c.Probe = probe()
	}
	c.VMM = "qemu"
	return c, nil
}
