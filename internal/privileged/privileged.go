// Package privileged is the one place banger performs operations that need
// root: the bridge, TAP devices, NAT rules and net.ipv4.ip_forward. They form
// a small typed set (Ops). When bangerd runs as root, Local performs them in
// process; otherwise Sudo runs the hidden privileged subcommand of a
// root-owned copy of bangerd (helper_path) through `sudo -n`, which lands
// in Main.
//
// Main runs as root on input from an unprivileged process, so it trusts
// nothing the caller says beyond which VM and which installation: the
// bridge, subnet and TAP prefix come from the caller's allotment (the
// root-owned /etc/banger/helper.toml or built-in defaults, see
// internal/network/allotment); TAPs are created owned by and tagged with
// the caller, NAT is added only for the caller's guest addresses on the
// caller's TAPs, and only the caller's objects are ever deleted. Confined
// enforces those rules, in process and under sudo alike. Nothing else in
// banger may need root; storage in particular does not.
package privileged

import (
	"context"
	"net"
	"net/netip"
	"os"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// TAPPrefix starts the name of every TAP banger creates; the helper
// creates and deletes no other.
const TAPPrefix = "bgt-"

// Ops is the complete set of privileged operations. Every operation is
// idempotent, so a retry or a reconcile after a crash is always safe.
type Ops interface {
	// EnsureBridge creates the caller's bridge with gateway, claims it for
	// owner, turns IPv6 off on it, stops the host routing between it and
	// other banger bridges, and lets its guests reach the host's own
	// addresses or not (hostAccess).
	EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, owner network.Owner, hostAccess bool) error
	CreateTAP(ctx context.Context, name string, owner network.Owner, gid int, bridge string) error
	// BindTAP lets the guest on the TAP send only from mac and ip; a TAP
	// that is not bound sends nothing.
	BindTAP(ctx context.Context, name string, owner network.Owner, mac net.HardwareAddr, ip netip.Addr) error
	DeleteTAP(ctx context.Context, name string, owner network.Owner) error
	// ApplyNAT adds the rules of rule and turns on ip forwarding. The TAP
	// must be bound to the rule's address.
	ApplyNAT(ctx context.Context, rule nat.Rule) error
	RemoveNAT(ctx context.Context, owner network.Owner, vmID string) error
	// ReconcileNAT removes owner's rules of every VM not in keep.
	ReconcileNAT(ctx context.Context, owner network.Owner, keep []string) error
}

// New returns Local when the process is root and otherwise Sudo running
// helper (the helper_path config key: a root-owned bangerd, installed by
// `make install-helper`, which dispatches `priv <op>` to Main).
func New(helper string) (Ops, error) {
	if os.Geteuid() == 0 {
		return NewLocal()
	}
	return &Sudo{Exe: helper}, nil
}

var (
	_ Ops = (*Confined)(nil)
	_ Ops = (*Sudo)(nil)
)
