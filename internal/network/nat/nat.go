// Package nat owns the iptables rules that give a VM outbound NAT: a
// MASQUERADE rule for the VM's address and FORWARD accept rules between the
// bridge and the outside. Rules live in two dedicated chains, BANGER-POST
// (nat table, jumped to from POSTROUTING) and BANGER-FWD (filter table,
// jumped to from FORWARD), shared by every user, and every rule carries the
// comment "banger:u<uid>:i<installation>:vm:<id>", so one installation's
// rules can be found, reconciled and removed without touching any other
// installation's (or anyone else's). IPv4 only.
//
// Changing rules and ip_forward needs root; this package does not obtain it
// (internal/privileged calls it). iptables is reached only through Runner.
package nat

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"banger/internal/network"
)

const (
	// ChainForward holds the per-VM accept rules in the filter table.
	ChainForward = "BANGER-FWD"
	// ChainPost holds the per-VM MASQUERADE rules in the nat table.
	ChainPost = "BANGER-POST"

	vmMarker = ":vm:"
)

// Rule is the NAT configuration of one VM.
type Rule struct {
	Owner   network.Owner
	VMID    string
	GuestIP netip.Addr
	// TAP is the VM's TAP device. At the IP layer traffic from the VM
	// enters through the bridge, not the TAP (matching ports would need
	// br_netfilter), so rules match Bridge plus GuestIP; TAP is validated
	// and carried for callers that record it.
	TAP    string
	Bridge string
}

// Validate checks every field before any of it reaches iptables.
func (r Rule) Validate() error {
	if err := ValidateVMID(r.VMID); err != nil {
		return err
	}
	if err := r.Owner.Validate(); err != nil {
		return fmt.Errorf("nat rule for vm %s: %w", r.VMID, err)
	}
	if !r.GuestIP.IsValid() || !r.GuestIP.Is4() || r.GuestIP.IsUnspecified() || r.GuestIP.IsMulticast() || r.GuestIP.IsLoopback() {
		return fmt.Errorf("nat rule for vm %s: guest address %v must be a unicast IPv4 address", r.VMID, r.GuestIP)
	}
	if err := network.ValidateName(r.TAP); err != nil {
		return fmt.Errorf("nat rule for vm %s: tap: %w", r.VMID, err)
	}
	if err := network.ValidateName(r.Bridge); err != nil {
		return fmt.Errorf("nat rule for vm %s: bridge: %w", r.VMID, err)
	}
	return nil
}

// ValidateVMID checks a VM id before it becomes part of a rule comment:
// 1-64 characters of a-z, 0-9 and '-'.
func ValidateVMID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("vm id %q must be 1-64 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("vm id %q may only contain a-z, 0-9 and '-'", id)
		}
	}
	return nil
}

// Manager applies and removes VM NAT rules through a Runner.
type Manager struct {
	run      Runner
	procRoot string // "/proc"; a temporary tree in tests
	// mu serialises rule changes: two concurrent Applies would otherwise
	// both find the jump into a banger chain missing and add it twice.
	mu sync.Mutex
}

// New returns a Manager that runs iptables through run.
func New(run Runner) *Manager { return &Manager{run: run, procRoot: "/proc"} }

// Apply makes the VM's rules exactly those of r: missing rules are added,
// rules left over from an earlier configuration of the same VM (another
// address or bridge) are removed, and applying the same Rule twice issues
// no change at all.
func (m *Manager) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ensureChains(ctx); err != nil {
		return fmt.Errorf("apply nat for vm %s: %w", r.VMID, err)
	}
	existing, err := m.rules(ctx)
	if err != nil {
		return fmt.Errorf("apply nat for vm %s: %w", r.VMID, err)
	}
	have := map[string]bool{}
	for _, e := range existing {
		if e.is(r.Owner, r.VMID) {
			have[e.key()] = true
		}
	}
	want := map[string]bool{}
	for _, d := range desired(r) {
		want[d.key()] = true
		if have[d.key()] {
			continue
		}
		if _, err := m.run.Run(ctx, d.argv("-A")...); err != nil {
			return fmt.Errorf("apply nat for vm %s: add %s rule: %w", r.VMID, d.chain, err)
		}
	}
	for _, e := range existing {
		if e.is(r.Owner, r.VMID) && !want[e.key()] {
			if err := m.delete(ctx, e); err != nil {
				return fmt.Errorf("apply nat for vm %s: remove stale rule: %w", r.VMID, err)
			}
		}
	}
	return nil
}

// Remove deletes every rule of owner tagged with vmID. Removing rules that
// do not exist is not an error.
func (m *Manager) Remove(ctx context.Context, owner network.Owner, vmID string) error {
	if err := ValidateVMID(vmID); err != nil {
		return err
	}
	if err := owner.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(ctx, owner, vmID)
}

func (m *Manager) remove(ctx context.Context, owner network.Owner, vmID string) error {
	existing, err := m.rules(ctx)
	if err != nil {
		return fmt.Errorf("remove nat for vm %s: %w", vmID, err)
	}
	for _, e := range existing {
		if !e.is(owner, vmID) {
			continue
		}
		if err := m.delete(ctx, e); err != nil {
			return fmt.Errorf("remove nat for vm %s: %w", vmID, err)
		}
	}
	return nil
}

// List returns the ids of owner's VMs that have rules, sorted.
func (m *Manager) List(ctx context.Context, owner network.Owner) ([]string, error) {
	existing, err := m.rules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	seen := map[string]bool{}
	var ids []string
	for _, e := range existing {
		if e.owner == owner && !seen[e.vmID] {
			seen[e.vmID] = true
			ids = append(ids, e.vmID)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Reconcile removes the rules of every VM of owner not in keep; other
// owners' rules are left alone.
func (m *Manager) Reconcile(ctx context.Context, owner network.Owner, keep map[string]bool) error {
	if err := owner.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := m.List(ctx, owner)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if keep[id] {
			continue
		}
		if err := m.remove(ctx, owner, id); err != nil {
			return err
		}
	}
	return nil
}

// ensureChains creates the two banger chains and the jumps into them. The
// jumps go first in FORWARD/POSTROUTING so that a distribution's or
// Docker's DROP policy further down cannot shadow a VM's accept rules.
func (m *Manager) ensureChains(ctx context.Context) error {
	for _, c := range []struct{ table, chain, parent string }{
		{"filter", ChainForward, "FORWARD"},
		{"nat", ChainPost, "POSTROUTING"},
	} {
		if _, err := m.run.Run(ctx, "-t", c.table, "-N", c.chain); err != nil {
			// Exit 1 is "chain already exists"; confirm rather than assume.
			if exitCode(err) != 1 {
				return fmt.Errorf("create chain %s/%s: %w", c.table, c.chain, err)
			}
			if _, serr := m.run.Run(ctx, "-t", c.table, "-S", c.chain); serr != nil {
				return fmt.Errorf("create chain %s/%s: %w", c.table, c.chain, err)
			}
		}
		_, err := m.run.Run(ctx, "-t", c.table, "-C", c.parent, "-j", c.chain)
		if err == nil {
			continue
		}
		if exitCode(err) != 1 {
			return fmt.Errorf("check jump %s -> %s: %w", c.parent, c.chain, err)
		}
		if _, err := m.run.Run(ctx, "-t", c.table, "-I", c.parent, "1", "-j", c.chain); err != nil {
			return fmt.Errorf("add jump %s -> %s: %w", c.parent, c.chain, err)
		}
	}
	return nil
}

func (m *Manager) delete(ctx context.Context, e tagged) error {
	if _, err := m.run.Run(ctx, e.argv("-D")...); err != nil {
		// Exit 1: already gone (a concurrent Remove); idempotent cleanup.
		if exitCode(err) == 1 {
			return nil
		}
		return fmt.Errorf("delete %s rule %q: %w", e.chain, strings.Join(e.args, " "), err)
	}
	return nil
}
