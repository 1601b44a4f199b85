package daemon

import (
	"context"
	"net"
	"net/netip"

	"banger/internal/vmm"
)

// Host is the daemon's view of the machine: VMM drivers, networking and DNS.
// The real implementation (systemHost) talks to the kernel and VMMs; tests
// substitute a fake.
type Host interface {
	// Driver returns the driver new VMs use (vmm = auto picks one, probing
	// KVM once); DriverByName returns the driver a VM was created with.
	Driver(ctx context.Context) (vmm.Driver, error)
	DriverByName(ctx context.Context, name string) (vmm.Driver, error)
	// EnsureNetwork creates the bridge (lazily: nothing touches host
	// networking until a VM needs it) and starts the TAP pool.
	EnsureNetwork(ctx context.Context) error
	// TakeTAP returns a TAP bound to the guest's MAC and address.
	TakeTAP(ctx context.Context, mac net.HardwareAddr, ip netip.Addr) (string, error)
	ReleaseTAP(ctx context.Context, name string) error
	ApplyNAT(ctx context.Context, vmID string, ip netip.Addr, tap string) error
	RemoveNAT(ctx context.Context, vmID string) error
	// ReconcileNetwork removes TAPs and NAT rules that no VM owns.
	ReconcileNetwork(ctx context.Context, tapsInUse, natVMs map[string]bool) error
	SetDNS(name string, ip netip.Addr)
	DeleteDNS(name string)
	DNSAddr() string
	DNSError() string
	VMMName() string
	AccelName() string
	Close()
}

// attachment is the host-side helper state of a running VM.
type attachment interface{ Close() error }
