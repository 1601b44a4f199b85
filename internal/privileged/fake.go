package privileged

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// Fake is an in-memory Ops for tests of code above this package. It keeps
// the state the real operations would leave behind and enforces the same
// rules: names are validated, a TAP needs an existing bridge, an existing
// TAP with another owner is an error, deleting a missing TAP is not, NAT
// rules are validated and idempotent. Set Err to make an operation fail.
type Fake struct {
	mu         sync.Mutex
	bridges    map[string][]netip.Prefix
	taps       map[string]FakeTAP
	nat        map[string]nat.Rule
	forwarding bool
	calls      []string

	// Err, when it returns non-nil for an operation name ("create-tap",
	// "apply-nat", ...) and its main argument, fails that call unchanged.
	Err func(op, arg string) error
}

// FakeTAP is a TAP device held by Fake.
type FakeTAP struct {
	UID, GID int
	Bridge   string
}

// NewFake returns an empty Fake: no bridge, no TAPs, no rules.
func NewFake() *Fake {
	return &Fake{bridges: map[string][]netip.Prefix{}, taps: map[string]FakeTAP{}, nat: map[string]nat.Rule{}}
}

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

func (f *Fake) EnsureBridge(_ context.Context, name string, addr netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opEnsureBridge, name); err != nil {
		return err
	}
	if err := (bridgeRequest{Name: name, Addr: addr}).validate(); err != nil {
		return err
	}
	for _, have := range f.bridges[name] {
		if have == addr {
			return nil
		}
		if have.Addr() == addr.Addr() {
			return fmt.Errorf("bridge %s already has %s, not %s", name, have, addr)
		}
	}
	f.bridges[name] = append(f.bridges[name], addr)
	return nil
}

func (f *Fake) CreateTAP(_ context.Context, name string, uid, gid int, bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opCreateTAP, name); err != nil {
		return err
	}
	if err := (tapRequest{Name: name, UID: uid, GID: gid, Bridge: bridge}).validateCreate(); err != nil {
		return err
	}
	if _, ok := f.bridges[bridge]; !ok {
		return fmt.Errorf("create tap %s: bridge %s does not exist", name, bridge)
	}
	if _, ok := f.bridges[name]; ok {
		return fmt.Errorf("create tap %s: a bridge link of that name already exists", name)
	}
	if have, ok := f.taps[name]; ok && (have.UID != uid || have.GID != gid) {
		return fmt.Errorf("create tap %s: an existing tap differs (owner %d:%d, want %d:%d)", name, have.UID, have.GID, uid, gid)
	}
	f.taps[name] = FakeTAP{UID: uid, GID: gid, Bridge: bridge}
	return nil
}

func (f *Fake) DeleteTAP(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opDeleteTAP, name); err != nil {
		return err
	}
	if err := network.ValidateName(name); err != nil {
		return err
	}
	if _, ok := f.bridges[name]; ok {
		return fmt.Errorf("delete tap %s: it is a bridge link, not a tap", name)
	}
	delete(f.taps, name)
	return nil
}

func (f *Fake) ApplyNAT(_ context.Context, rule nat.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opApplyNAT, rule.VMID); err != nil {
		return err
	}
	if err := rule.Validate(); err != nil {
		return err
	}
	f.nat[rule.VMID] = rule
	return nil
}

func (f *Fake) RemoveNAT(_ context.Context, vmID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opRemoveNAT, vmID); err != nil {
		return err
	}
	if err := nat.ValidateVMID(vmID); err != nil {
		return err
	}
	delete(f.nat, vmID)
	return nil
}

func (f *Fake) ReconcileNAT(_ context.Context, keep []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opReconcileNAT, strings.Join(keep, ",")); err != nil {
		return err
	}
	set, err := keepSet(keep)
	if err != nil {
		return err
	}
	for id := range f.nat {
		if !set[id] {
			delete(f.nat, id)
		}
	}
	return nil
}

func (f *Fake) EnableForwarding(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(opEnableForwarding, ""); err != nil {
		return err
	}
	f.forwarding = true
	return nil
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

// TAP returns a TAP's state and whether it exists.
func (f *Fake) TAP(name string) (FakeTAP, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.taps[name]
	return t, ok
}

// Bridge returns a bridge's addresses and whether it exists.
func (f *Fake) Bridge(name string) ([]netip.Prefix, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.bridges[name]
	return append([]netip.Prefix(nil), p...), ok
}

// NAT returns the VM ids with NAT rules, sorted, and whether forwarding is on.
func (f *Fake) NAT() (ids []string, forwarding bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.nat {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, f.forwarding
}
