package guard

import (
	"context"
	"fmt"
	"net/netip"
	"sort"

	"banger/internal/network"
)

// HostBlock is a bridge whose guests may not reach the host's own
// addresses.
type HostBlock struct {
	Bridge string
	Subnet netip.Prefix
}

// SetHostAccess decides whether guests on bridge (sources in subnet) may
// open connections to any of the host's own addresses. With allow false,
// such packets are dropped at the input hook, except replies to
// connections the host opened (SSH from the host to a guest keeps
// working); traffic the host forwards (NAT to the outside, guest to guest)
// is not affected. allow true removes the block. Each bridge is set on its
// own; both directions are idempotent.
func (g *Guard) SetHostAccess(ctx context.Context, bridge string, subnet netip.Prefix, allow bool) error {
	if err := network.ValidateName(bridge); err != nil {
		return fmt.Errorf("set host access: %w", err)
	}
	if allow {
		if err := g.apply(ctx, allowHostScript(bridge)); err != nil {
			return fmt.Errorf("allow host access from bridge %s: %w", bridge, err)
		}
		return nil
	}
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return fmt.Errorf("block host access from bridge %s: subnet %q is not an IPv4 prefix", bridge, subnet.String())
	}
	if err := g.apply(ctx, blockHostScript(bridge, subnet.Masked())); err != nil {
		return fmt.Errorf("block host access from bridge %s: %w", bridge, err)
	}
	return nil
}

// HostBlocks lists the bridges whose guests may not reach the host, sorted
// by bridge name, as read back from the kernel.
func (g *Guard) HostBlocks(ctx context.Context) ([]HostBlock, error) {
	rs, err := g.listRuleset(ctx, "inet")
	if err != nil {
		return nil, fmt.Errorf("list host access blocks: %w", err)
	}
	hs, err := rs.hostBlocks()
	if err != nil {
		return nil, fmt.Errorf("list host access blocks: %w", err)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Bridge < hs[j].Bridge })
	return hs, nil
}
