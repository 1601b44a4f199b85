package privileged

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"banger/internal/execx"
	"banger/internal/network"
	"banger/internal/network/guard"
	"banger/internal/network/nat"
)

// backend performs the operations with no policy of its own: the network
// and nat packages on the real host (system), or memory in tests (Fake).
type backend interface {
	EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, owner network.Owner, hostAccess bool) error
	CreateTAP(ctx context.Context, name string, owner network.Owner, gid int, bridge string) error
	BindTAP(ctx context.Context, b guard.Binding) error
	LookupBinding(ctx context.Context, tap string) (guard.Binding, bool, error)
	// DeleteTAP unbinds and deletes the TAP.
	DeleteTAP(ctx context.Context, name string) error
	InspectTAP(name string) (network.TAPInfo, error)
	ApplyNAT(ctx context.Context, rule nat.Rule) error
	EnableForwarding() error
	RemoveNAT(ctx context.Context, owner network.Owner, vmID string) error
	ReconcileNAT(ctx context.Context, owner network.Owner, keep map[string]bool) error
}

// ErrRefused wraps every refusal of a request outside the caller's
// allotment; the helper exits 2 for those.
var ErrRefused = errors.New("refused")

// refusal marks a request check's error as a refusal.
func refusal(err error) error {
	if errors.Is(err, ErrRefused) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrRefused, err)
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Confined runs the operations for one Caller and refuses anything outside
// the caller's allotment. It is Local in process and what Main runs under
// sudo, so both accept exactly the same requests.
type Confined struct {
	Caller Caller
	be     backend
}

// NewLocal returns the operations for this root process, confined to its
// own allotment.
func NewLocal() (*Confined, error) {
	c, err := Self()
	if err != nil {
		return nil, err
	}
	return &Confined{Caller: c, be: newSystem()}, nil
}

func (c *Confined) checkOwner(op string, owner network.Owner) error {
	if err := owner.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if owner.UID != c.Caller.UID {
		return refuse("%s: owner uid %d is not the caller (uid %d)", op, owner.UID, c.Caller.UID)
	}
	return nil
}

func (c *Confined) checkBridge(op, bridge string) error {
	if bridge != c.Caller.Allot.Bridge {
		return refuse("%s: bridge %q is not yours: uid %d may use %s", op, bridge, c.Caller.UID, c.Caller.Allot)
	}
	return nil
}

func checkTAPName(op, name string) error {
	if err := network.ValidateName(name); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !strings.HasPrefix(name, TAPPrefix) {
		return refuse("%s: tap %q does not start with %q; the helper touches no other device", op, name, TAPPrefix)
	}
	return nil
}

func (c *Confined) EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, owner network.Owner, hostAccess bool) error {
	op := "ensure bridge " + name
	if err := c.checkOwner(op, owner); err != nil {
		return refusal(err)
	}
	if err := c.checkBridge(op, name); err != nil {
		return refusal(err)
	}
	if want := c.Caller.Allot.Gateway(); gateway != want {
		return refuse("%s: address %v is not yours: uid %d may use %s (host address %s)", op, gateway, c.Caller.UID, c.Caller.Allot, want)
	}
	return c.be.EnsureBridge(ctx, name, gateway, owner, hostAccess)
}

func (c *Confined) CreateTAP(ctx context.Context, name string, owner network.Owner, gid int, bridge string) error {
	op := "create tap " + name
	if err := checkTAPName(op, name); err != nil {
		return refusal(err)
	}
	if err := c.checkOwner(op, owner); err != nil {
		return refusal(err)
	}
	if gid != c.Caller.GID {
		return refuse("%s: group %d is not the caller's group %d", op, gid, c.Caller.GID)
	}
	if err := c.checkBridge(op, bridge); err != nil {
		return refusal(err)
	}
	return c.be.CreateTAP(ctx, name, owner, gid, bridge)
}

// ownTAP checks that tap is one of owner's TAPs on the caller's bridge.
func (c *Confined) ownTAP(op, tap string, owner network.Owner) error {
	if err := checkTAPName(op, tap); err != nil {
		return err
	}
	info, err := c.be.InspectTAP(tap)
	if err != nil {
		return refuse("%s: %v", op, err)
	}
	if info.UID != c.Caller.UID || !info.Tagged || info.Owner != owner || info.Master != c.Caller.Allot.Bridge {
		return refuse("%s: tap %s is not one of this installation's taps on %s (owner uid %d, tag %v, bridge %q)", op, tap, c.Caller.Allot.Bridge, info.UID, info.Owner, info.Master)
	}
	return nil
}

// BindTAP binds one of the caller's TAPs to a guest address of the
// caller's subnet.
func (c *Confined) BindTAP(ctx context.Context, name string, owner network.Owner, mac net.HardwareAddr, ip netip.Addr) error {
	op := "bind tap " + name
	if err := c.checkOwner(op, owner); err != nil {
		return refusal(err)
	}
	if !c.Caller.Allot.GuestAddr(ip) {
		return refuse("%s: %s is not a guest address of %s", op, ip, c.Caller.Allot)
	}
	if err := c.ownTAP(op, name, owner); err != nil {
		return refusal(err)
	}
	return c.be.BindTAP(ctx, guard.Binding{TAP: name, MAC: mac, IP: ip, Tag: owner.Tag()})
}

// DeleteTAP deletes one of owner's TAPs; a missing one is not an error.
func (c *Confined) DeleteTAP(ctx context.Context, name string, owner network.Owner) error {
	op := "delete tap " + name
	if err := checkTAPName(op, name); err != nil {
		return refusal(err)
	}
	if err := c.checkOwner(op, owner); err != nil {
		return refusal(err)
	}
	info, err := c.be.InspectTAP(name)
	if err != nil {
		return nil // gone already (or not a TAP, which DeleteTAP refuses anyway)
	}
	if info.UID != c.Caller.UID {
		return refuse("%s: it belongs to uid %d, not the caller (uid %d)", op, info.UID, c.Caller.UID)
	}
	if info.Tagged && info.Owner != owner {
		return refuse("%s: it belongs to another banger installation (%s)", op, info.Owner)
	}
	return c.be.DeleteTAP(ctx, name)
}

// ApplyNAT adds NAT for one of the caller's guests: the address must be a
// guest address of the caller's subnet and the TAP one of the caller's
// TAPs on the caller's bridge.
func (c *Confined) ApplyNAT(ctx context.Context, rule nat.Rule) error {
	op := "apply nat for vm " + rule.VMID
	if err := rule.Validate(); err != nil {
		return refusal(err)
	}
	if err := c.checkOwner(op, rule.Owner); err != nil {
		return refusal(err)
	}
	if err := c.checkBridge(op, rule.Bridge); err != nil {
		return refusal(err)
	}
	if !c.Caller.Allot.GuestAddr(rule.GuestIP) {
		return refuse("%s: %s is not a guest address of %s", op, rule.GuestIP, c.Caller.Allot)
	}
	if err := c.ownTAP(op, rule.TAP, rule.Owner); err != nil {
		return refusal(err)
	}
	// The rules match the guest's address, which anti-spoofing ties to
	// this TAP: NAT only for the address the TAP is bound to.
	b, ok, err := c.be.LookupBinding(ctx, rule.TAP)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !ok || b.IP != rule.GuestIP {
		return refuse("%s: tap %s is not bound to %s (bound: %t, to %v)", op, rule.TAP, rule.GuestIP, ok, b.IP)
	}
	if err := c.be.ApplyNAT(ctx, rule); err != nil {
		return err
	}
	// Forwarding is turned on only together with a rule that needs it.
	if err := c.be.EnableForwarding(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (c *Confined) RemoveNAT(ctx context.Context, owner network.Owner, vmID string) error {
	if err := nat.ValidateVMID(vmID); err != nil {
		return refusal(err)
	}
	if err := c.checkOwner("remove nat for vm "+vmID, owner); err != nil {
		return refusal(err)
	}
	return c.be.RemoveNAT(ctx, owner, vmID)
}

func (c *Confined) ReconcileNAT(ctx context.Context, owner network.Owner, keep []string) error {
	if err := c.checkOwner("reconcile nat", owner); err != nil {
		return refusal(err)
	}
	set, err := keepSet(keep)
	if err != nil {
		return refusal(err)
	}
	return c.be.ReconcileNAT(ctx, owner, set)
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

// system is the real host: netlink, iptables and nftables, in the calling
// thread's network namespace.
type system struct {
	nat   *nat.Manager
	guard *guard.Guard
}

func newSystem() system {
	return system{nat: nat.New(nat.NewRunner()), guard: guard.New(guard.NFT{Path: nftPath()})}
}

// nftPath is nft in a root-owned system directory, never from PATH; when
// there is none, guard.NFT reports ErrNotFound on use.
func nftPath() string {
	if p, err := execx.SystemTool("nft"); err == nil {
		return p
	}
	return "/usr/sbin/nft"
}

func (s system) EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, owner network.Owner, hostAccess bool) error {
	if err := network.EnsureBridge(name, gateway, owner); err != nil {
		return err
	}
	if err := guard.DisableIPv6(name); err != nil {
		return err
	}
	if err := s.guard.IsolateBridge(ctx, name, true); err != nil {
		return err
	}
	return s.guard.SetHostAccess(ctx, name, gateway.Masked(), hostAccess)
}

func (system) CreateTAP(_ context.Context, name string, owner network.Owner, gid int, bridge string) error {
	if err := network.CreateTAP(name, owner, gid, bridge); err != nil {
		return err
	}
	return guard.DisableIPv6(name)
}

func (s system) BindTAP(ctx context.Context, b guard.Binding) error { return s.guard.Bind(ctx, b) }
func (s system) LookupBinding(ctx context.Context, tap string) (guard.Binding, bool, error) {
	return s.guard.Lookup(ctx, tap)
}

func (s system) DeleteTAP(ctx context.Context, name string) error {
	if err := s.guard.Unbind(ctx, name); err != nil {
		return err
	}
	return network.DeleteTAP(name)
}

func (system) InspectTAP(name string) (network.TAPInfo, error)     { return network.InspectTAP(name) }
func (s system) ApplyNAT(ctx context.Context, rule nat.Rule) error { return s.nat.Apply(ctx, rule) }
func (s system) EnableForwarding() error                           { return s.nat.EnableForwarding() }
func (s system) RemoveNAT(ctx context.Context, owner network.Owner, vmID string) error {
	return s.nat.Remove(ctx, owner, vmID)
}
func (s system) ReconcileNAT(ctx context.Context, owner network.Owner, keep map[string]bool) error {
	return s.nat.Reconcile(ctx, owner, keep)
}
