package firecracker

import (
	"errors"
	"fmt"

	"banger/internal/network"
	"banger/internal/paths"
	"banger/internal/vmm"
)

// Machine limits.
const (
	MaxVCPUs = 32
	// MinMemoryMiB is banger's floor, not Firecracker's: a Debian guest
	// with systemd does not boot reliably in less.
	MinMemoryMiB = 128
	// maxCmdline is Firecracker's x86_64 command-line capacity (2048
	// bytes including the terminating NUL, CMDLINE_MAX_SIZE).
	maxCmdline = 2047
)

// appendedArgsLen is how many bytes Firecracker (x86_64, checked against
// v1.16.1's builder.rs and device_manager/mmio.rs) adds to the boot args
// before loading them: " pci=off", then per virtio device (each drive, the
// network interface, the vsock device) " virtio_mmio.device=4K@0xc000N000:IRQ".
// An address keeps 8 hex digits and an IRQ at most 2 decimal digits, so
// each device costs at most 36 bytes.
func appendedArgsLen(spec vmm.Spec) int {
	devices := len(spec.Disks)
	if spec.TAP != "" {
		devices++
	}
	if spec.AgentSocket != "" {
		devices++
	}
	return len(" pci=off") + devices*len(" virtio_mmio.device=4K@0xc0001000:12")
}

// ValidateMachine checks a VM's size against what Firecracker accepts.
// Firecracker takes 1 to 32 vCPUs and, with SMT, only 1 or an even count;
// banger keeps the SMT rule always (the spec documents the count as "either
// 1 or an even number"), so a VM's size stays valid if SMT is ever enabled.
func ValidateMachine(vcpus, memMiB int) error {
	switch {
	case vcpus < 1 || vcpus > MaxVCPUs:
		return fmt.Errorf("vcpu count %d is out of range: firecracker allows 1 to %d", vcpus, MaxVCPUs)
	case vcpus != 1 && vcpus%2 != 0:
		return fmt.Errorf("vcpu count %d is odd: firecracker allows 1 or an even number up to %d", vcpus, MaxVCPUs)
	case memMiB < MinMemoryMiB:
		return fmt.Errorf("memory %d MiB is too small: at least %d MiB is required", memMiB, MinMemoryMiB)
	}
	return nil
}

// ValidateMachine implements vmm.MachineValidator.
func (d *Driver) ValidateMachine(vcpus, memMiB int) error { return ValidateMachine(vcpus, memMiB) }

// validID reports whether s is a Firecracker API resource id: non-empty,
// letters, digits and '_' only (Firecracker rejects anything else).
func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validInstanceID reports whether s is usable as firecracker --id:
// 1 to 64 letters, digits and '-'.
func validInstanceID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validateSpec rejects a spec Firecracker would refuse, before anything is
// spawned, so the user sees one clear error instead of an API fault.
func validateSpec(spec vmm.Spec) error {
	var errs []error
	if !validInstanceID(spec.ID) {
		errs = append(errs, fmt.Errorf("vm id %q: firecracker needs 1 to 64 letters, digits or '-'", spec.ID))
	}
	if spec.Dir == "" {
		errs = append(errs, errors.New("no vm directory"))
	}
	if spec.Kernel == "" {
		errs = append(errs, errors.New("no kernel: firecracker needs an uncompressed ELF vmlinux"))
	}
	if extra := appendedArgsLen(spec); len(spec.BootArgs)+extra > maxCmdline {
		errs = append(errs, fmt.Errorf("boot args are %d bytes: firecracker allows at most %d with this vm's devices (it appends up to %d bytes: pci=off and one virtio_mmio.device= per device)", len(spec.BootArgs), maxCmdline-extra, extra))
	}
	if spec.LogPath == "" {
		errs = append(errs, errors.New("no log path"))
	}
	if err := ValidateMachine(spec.VCPUs, spec.MemoryMiB); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, d := range spec.Disks {
		switch {
		case !validID(d.ID):
			errs = append(errs, fmt.Errorf("disk id %q: firecracker drive ids are letters, digits and '_'", d.ID))
		case seen[d.ID]:
			errs = append(errs, fmt.Errorf("disk id %q is used twice", d.ID))
		case d.Path == "":
			errs = append(errs, fmt.Errorf("disk %s has no path", d.ID))
		}
		seen[d.ID] = true
	}
	if spec.TAP != "" {
		if err := network.ValidateName(spec.TAP); err != nil {
			errs = append(errs, fmt.Errorf("tap name: %w", err))
		}
	}
	if spec.Dir != "" {
		if err := paths.CheckSocketPath(paths.VMDir(spec.Dir).APISocket()); err != nil {
			errs = append(errs, err)
		}
	}
	if spec.AgentSocket != "" {
		if err := paths.CheckSocketPath(spec.AgentSocket); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
