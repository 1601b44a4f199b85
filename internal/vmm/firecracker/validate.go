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
	// maxBootArgs is Firecracker's x86_64 command-line capacity (2048
	// bytes including the terminating NUL).
	maxBootArgs = 2047
)

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
	if len(spec.BootArgs) > maxBootArgs {
		errs = append(errs, fmt.Errorf("boot args are %d bytes: firecracker allows at most %d", len(spec.BootArgs), maxBootArgs))
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
