package privileged

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"banger/internal/network"
	"banger/internal/network/guard"
	"banger/internal/network/nat"
)

// Fake is an in-memory backend for tests: it keeps the state the real
// operations would leave behind and fails the way they do (a TAP needs an
// existing bridge, an existing TAP with another owner is an error, deleting
// a missing TAP is not, NAT is idempotent). The allotment rules are not
// repeated here: NewFakeOps wraps it in Confined, which enforces them.
type Fake struct {
	mu         sync.Mutex
	bridges    map[string]FakeBridge
	taps       map[string]FakeTAP
	nat        map[string]nat.Rule // by owner tag + vm id
	bindings   map[string]guard.Binding
	forwarding bool
	calls      []string

	// Err, when it returns non-nil for an operation name ("create-tap",
	// "apply-nat", ...) and its main argument, fails that call unchanged.
	Err func(op, arg string) error
}

// FakeBridge is a bridge held by Fake.
type FakeBridge struct {
	Gateway    netip.Prefix
	Owner      network.Owner
	HostAccess bool
}

// FakeTAP is a TAP device held by Fake.
type FakeTAP struct {
	Owner  network.Owner
	GID    int
	Bridge string
}

// NewFake returns an empty Fake: no bridge, no TAPs, no rules.
func NewFake() *Fake {
	return &Fake{bridges: map[string]FakeBridge{}, taps: map[string]FakeTAP{}, nat: map[string]nat.Rule{}, bindings: map[string]guard.Binding{}}
}

// NewFakeOps returns Ops for caller on top of f, with the same checks as
// the real helper.
func NewFakeOps(caller Caller, f *Fake) *Confined { return &Confined{Caller: caller, be: f} }

func (f *Fake) begin(op, arg string) error {
	f.calls = append(f.calls, op+" "+arg)
	if f.Err != nil {
		return f.Err(op, arg)
	}
	return nil
}

// Calls lists the operations run so far as "op arg".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *Fake) EnsureBridge(_ context.Context, name string, gateway netip.Prefix, owner network.Owner, hostAccess bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opEnsureBridge, name); err != nil {
		return err
	}
	if have, ok := f.bridges[name]; ok {
		if have.Gateway != gateway {
			return fmt.Errorf("bridge %s already has %s, not %s", name, have.Gateway, gateway)
		}
		if have.Owner != owner {
			for tap, t := range f.taps {
				if t.Bridge == name && t.Owner != owner {
					return &network.BridgeInUseError{Bridge: name, Other: t.Owner, TAP: tap}
				}
			}
		}
	}
	f.bridges[name] = FakeBridge{Gateway: gateway, Owner: owner, HostAccess: hostAccess}
	return nil
}

func (f *Fake) CreateTAP(_ context.Context, name string, owner network.Owner, gid int, bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opCreateTAP, name); err != nil {
		return err
	}
	if _, ok := f.bridges[bridge]; !ok {
		return fmt.Errorf("create tap %s: bridge %s does not exist", name, bridge)
	}
	if have, ok := f.taps[name]; ok && (have.Owner != owner || have.GID != gid) {
		return fmt.Errorf("create tap %s: an existing tap differs (owner %s, want %s)", name, have.Owner, owner)
	}
	f.taps[name] = FakeTAP{Owner: owner, GID: gid, Bridge: bridge}
	return nil
}

func (f *Fake) DeleteTAP(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opDeleteTAP, name); err != nil {
		return err
	}
	delete(f.taps, name)
	delete(f.bindings, name)
	return nil
}

func (f *Fake) BindTAP(_ context.Context, b guard.Binding) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opBindTAP, b.TAP); err != nil {
		return err
	}
	if _, ok := f.taps[b.TAP]; !ok {
		return fmt.Errorf("bind tap %s: no such device", b.TAP)
	}
	f.bindings[b.TAP] = b
	return nil
}

func (f *Fake) LookupBinding(_ context.Context, tap string) (guard.Binding, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[tap]
	return b, ok, nil
}

func (f *Fake) InspectTAP(name string) (network.TAPInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.taps[name]
	if !ok {
		return network.TAPInfo{}, fmt.Errorf("look up tap %s: no such device", name)
	}
	return network.TAPInfo{Name: name, UID: t.Owner.UID, GID: t.GID, Master: t.Bridge, Owner: t.Owner, Tagged: true}, nil
}

func (f *Fake) ApplyNAT(_ context.Context, rule nat.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opApplyNAT, rule.VMID); err != nil {
		return err
	}
	f.nat[rule.Owner.Tag()+" "+rule.VMID] = rule
	return nil
}

func (f *Fake) EnableForwarding() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forwarding = true
	return nil
}

func (f *Fake) RemoveNAT(_ context.Context, owner network.Owner, vmID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opRemoveNAT, vmID); err != nil {
		return err
	}
	delete(f.nat, owner.Tag()+" "+vmID)
	return nil
}

func (f *Fake) ReconcileNAT(_ context.Context, owner network.Owner, keep map[string]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(keep))
	for id := range keep {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if err := f.begin(opReconcileNAT, strings.Join(ids, ",")); err != nil {
		return err
	}
	for k, r := range f.nat {
		if r.Owner == owner && !keep[r.VMID] {
			delete(f.nat, k)
		}
	}
	return nil
}

// TAP returns a TAP's state and whether it exists.
func (f *Fake) TAP(name string) (FakeTAP, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.taps[name]
	return t, ok
}

// Bridge returns a bridge's state and whether it exists.
func (f *Fake) Bridge(name string) (FakeBridge, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bridges[name]
	return b, ok
}

// NAT returns "uid/vmid" for every NAT rule set, sorted, and whether
// forwarding is on.
func (f *Fake) NAT() (rules []string, forwarding bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.nat {
		rules = append(rules, fmt.Sprintf("%d/%s", r.Owner.UID, r.VMID))
	}
	sort.Strings(rules)
	return rules, f.forwarding
}

// ListTAPs returns the fake's TAP names starting with prefix, sorted, like
// network.ListTAPs.
func (f *Fake) ListTAPs(prefix string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.taps {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
