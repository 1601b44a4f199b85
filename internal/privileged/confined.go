package privileged

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// backend performs the operations with no policy of its own: the network
// and nat packages on the real host (system), or memory in tests (Fake).
type backend interface {
	EnsureBridge(name string, gateway netip.Prefix, owner network.Owner) error
	CreateTAP(name string, owner network.Owner, gid int, bridge string) error
	DeleteTAP(name string) error
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
	return &Confined{Caller: c, be: system{nat: natManager()}}, nil
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

func (c *Confined) EnsureBridge(_ context.Context, name string, gateway netip.Prefix, owner network.Owner) error {
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
	return c.be.EnsureBridge(name, gateway, owner)
}

func (c *Confined) CreateTAP(_ context.Context, name string, owner network.Owner, gid int, bridge string) error {
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
	return c.be.CreateTAP(name, owner, gid, bridge)
}

// DeleteTAP deletes one of owner's TAPs; a missing one is not an error.
func (c *Confined) DeleteTAP(_ context.Context, name string, owner network.Owner) error {
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
	return c.be.DeleteTAP(name)
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
	if err := checkTAPName(op, rule.TAP); err != nil {
		return refusal(err)
	}
	info, err := c.be.InspectTAP(rule.TAP)
	if err != nil {
		return refuse("%s: %v", op, err)
	}
	if info.UID != c.Caller.UID || !info.Tagged || info.Owner != rule.Owner || info.Master != rule.Bridge {
		return refuse("%s: tap %s is not one of this installation's taps on %s (owner uid %d, tag %v, bridge %q)", op, rule.TAP, rule.Bridge, info.UID, info.Owner, info.Master)
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

// system is the real host: netlink and iptables, in the calling thread's
// network namespace.
type system struct{ nat *nat.Manager }

func (system) EnsureBridge(name string, gateway netip.Prefix, owner network.Owner) error {
	return network.EnsureBridge(name, gateway, owner)
}
func (system) CreateTAP(name string, owner network.Owner, gid int, bridge string) error {
	return network.CreateTAP(name, owner, gid, bridge)
}
func (system) DeleteTAP(name string) error                         { return network.DeleteTAP(name) }
func (system) InspectTAP(name string) (network.TAPInfo, error)     { return network.InspectTAP(name) }
func (s system) ApplyNAT(ctx context.Context, rule nat.Rule) error { return s.nat.Apply(ctx, rule) }
func (s system) EnableForwarding() error                           { return s.nat.EnableForwarding() }
func (s system) RemoveNAT(ctx context.Context, owner network.Owner, vmID string) error {
	return s.nat.Remove(ctx, owner, vmID)
}
func (s system) ReconcileNAT(ctx context.Context, owner network.Owner, keep map[string]bool) error {
	return s.nat.Reconcile(ctx, owner, keep)
}

// natManager is the host's iptables, for the helper.
func natManager() *nat.Manager { return nat.New(nat.NewRunner()) }
