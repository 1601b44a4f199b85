package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"banger/internal/execx"
)

// MinVersion is the oldest Firecracker banger boots. Before 1.8
// Firecracker gave guests no ACPI tables; banger's initrd loads virtio_mmio
// as a module, which finds devices only through ACPI (LNRO0005), and
// Debian's cloud kernel has no command-line virtio-mmio devices, so an
// older Firecracker boots a guest that finds no disks and reboots.
var MinVersion = Version{1, 8, 0}

// ErrTooOld is wrapped by the errors that refuse a Firecracker older than
// MinVersion.
var ErrTooOld = errors.New("too old")

// KVMDevice is the device Firecracker opens read-write.
const KVMDevice = "/dev/kvm"

// Version is a Firecracker release number.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// versionRE finds "1.16.1" in "v1.16.1", "1.16.1-dev" or
// "Firecracker v1.16.1" (the first line of `firecracker --version`).
var versionRE = regexp.MustCompile(`v?([0-9]+)\.([0-9]+)\.([0-9]+)`)

// ParseVersion reads a version from GET /'s vmm_version or from
// `firecracker --version`.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("no version number in %q", firstLine(s))
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	return v, nil
}

// checkVersion refuses a Firecracker older than MinVersion, naming both.
func checkVersion(s, from string) (Version, error) {
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("firecracker version from %s: %w", from, err)
	}
	if v.Less(MinVersion) {
		return v, fmt.Errorf("firecracker %s is %w: banger needs firecracker %s or newer (before 1.8 guests get no ACPI and find no disks)", v, ErrTooOld, MinVersion)
	}
	return v, nil
}

// HostCheck is what Firecracker needs from the host before banger
// prefers it: a binary new enough, and a KVM device this user can open
// read-write (group kvm). Driver choice (bangerd) and doctor both call it.
type HostCheck struct {
	Binary string
	// KVMDevice defaults to /dev/kvm; tests point it elsewhere.
	KVMDevice string
}

// Check runs `firecracker --version` and opens the KVM device. It returns
// the version found (when it could be read) and the first reason
// Firecracker cannot be used here.
func (h HostCheck) Check(ctx context.Context) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := execx.Run(ctx, h.Binary, "--version")
	if err != nil {
		return Version{}, fmt.Errorf("run %s --version: %w", h.Binary, err)
	}
	v, err := checkVersion(string(out), h.Binary+" --version")
	if err != nil {
		return v, err
	}
	dev := h.KVMDevice
	if dev == "" {
		dev = KVMDevice
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return v, fmt.Errorf("firecracker needs %s read-write: %w", dev, err)
	}
	f.Close()
	return v, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
