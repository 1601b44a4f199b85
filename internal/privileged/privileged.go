// Package privileged is the one place banger performs operations that need
// root: the bridge, TAP devices, NAT rules and net.ipv4.ip_forward. They form
// a small typed set (Ops). When bangerd runs as root, Local performs them in
// process; otherwise Sudo runs the hidden privileged subcommand of a
// root-owned copy of bangerd (helper_path) through `sudo -n`, which lands
// in Main.
//
// Main runs as root on input from an unprivileged process, so it trusts
// nothing: every argument is validated, unknown JSON fields are rejected,
// and under sudo a caller may only create or delete TAPs owned by itself.
// Nothing else in banger may need root; storage in particular does not.
package privileged

import (
	"context"
	"net/netip"
	"os"

	"banger/internal/network/nat"
)

// Ops is the complete set of privileged operations. Every operation is
// idempotent, so a retry or a reconcile after a crash is always safe.
type Ops interface {
	EnsureBridge(ctx context.Context, name string, addr netip.Prefix) error
	CreateTAP(ctx context.Context, name string, uid, gid int, bridge string) error
	DeleteTAP(ctx context.Context, name string) error
	ApplyNAT(ctx context.Context, rule nat.Rule) error
	RemoveNAT(ctx context.Context, vmID string) error
	ReconcileNAT(ctx context.Context, keep []string) error
	EnableForwarding(ctx context.Context) error
}

// New returns Local when the process is root and otherwise Sudo running
// helper (the helper_path config key: a root-owned bangerd, installed by
// `make install-helper`, which dispatches `priv <op>` to Main).
func New(helper string) Ops {
	if os.Geteuid() == 0 {
		return NewLocal()
	}
	return &Sudo{Exe: helper}
}

var (
	_ Ops = (*Local)(nil)
	_ Ops = (*Sudo)(nil)
	_ Ops = (*Fake)(nil)
)
