package guard

import (
	"context"
	"encoding/json"
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

// IsolateBridge decides whether the host routes packets between bridge and
// the other isolated bridges. Guests of different users live on different
// bridges and subnets; once the host forwards IPv4 (which NAT needs) and
// its FORWARD policy accepts, a guest could otherwise reach another user's
// guests through the host, even without --nat. With on, every packet the
// host would route from one isolated bridge to another (in either
// direction) is dropped; traffic within a bridge is bridged, not routed,
// and is unaffected, as is traffic to and from any other interface.
// Idempotent both ways.
func (g *Guard) IsolateBridge(ctx context.Context, bridge string, on bool) error {
	if err := network.ValidateName(bridge); err != nil {
		return fmt.Errorf("isolate bridge: %w", err)
	}
	if err := g.apply(ctx, isolateScript(bridge, on)); err != nil {
		return fmt.Errorf("isolate bridge %s: %w", bridge, err)
	}
	return nil
}

// IsolatedBridges lists the isolated bridges, sorted, as read back from the
// kernel.
func (g *Guard) IsolatedBridges(ctx context.Context) ([]string, error) {
	rs, err := g.listRuleset(ctx, "inet")
	if err != nil {
		return nil, fmt.Errorf("list isolated bridges: %w", err)
	}
	var out []string
	for _, e := range rs.sets[bridgeSet] {
		var name string
		if err := json.Unmarshal(e, &name); err != nil {
			return nil, fmt.Errorf("list isolated bridges: element %s is not a name", e)
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}
