package privileged

import (
	"context"
	"net/netip"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// Local performs the operations in this process, which must be root. The
// network calls act on the calling thread's network namespace.
type Local struct {
	nat *nat.Manager
}

// NewLocal returns a Local using the host's iptables.
func NewLocal() *Local { return &Local{nat: nat.New(nat.NewRunner())} }

// Local checks requests with the same rules as Main, so that running as
// root or through sudo accepts exactly the same input.

func (l *Local) EnsureBridge(_ context.Context, name string, addr netip.Prefix) error {
	if err := (bridgeRequest{Name: name, Addr: addr}).validate(); err != nil {
		return err
	}
	return network.EnsureBridge(name, addr)
}

func (l *Local) CreateTAP(_ context.Context, name string, uid, gid int, bridge string) error {
	if err := (tapRequest{Name: name, UID: uid, GID: gid, Bridge: bridge}).validateCreate(); err != nil {
		return err
	}
	return network.CreateTAP(name, uid, gid, bridge)
}

func (l *Local) DeleteTAP(_ context.Context, name string) error {
	return network.DeleteTAP(name)
}

func (l *Local) ApplyNAT(ctx context.Context, rule nat.Rule) error {
	return l.nat.Apply(ctx, rule)
}

func (l *Local) RemoveNAT(ctx context.Context, vmID string) error {
	return l.nat.Remove(ctx, vmID)
}

func (l *Local) ReconcileNAT(ctx context.Context, keep []string) error {
	set, err := keepSet(keep)
	if err != nil {
		return err
	}
	return l.nat.Reconcile(ctx, set)
}

func (l *Local) EnableForwarding(context.Context) error {
	return l.nat.EnableForwarding()
}

func keepSet(keep []string) (map[string]bool, error) {
	set := make(map[string]bool, len(keep))
	for _, id := range keep {
		if err := nat.ValidateVMID(id); err != nil {
			return nil, err
		}
		set[id] = true
	}
	return set, nil
}
