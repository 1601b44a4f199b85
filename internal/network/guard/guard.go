// Package guard owns banger's per-TAP anti-spoofing and guest isolation,
// written as nftables rules in banger's own tables: `table bridge banger`
// checks every frame a guest sends into the bridge, `table inet banger`
// optionally stops guests from reaching the host's own addresses and stops
// the host from routing between banger bridges (users). It uses
// nftables' bridge family rather than br_netfilter, which would send the
// bridged traffic of every bridge on the host (Docker's included) through
// iptables.
//
// Rules are applied with `nft -f -`, one atomic transaction per call, so a
// binding is either fully installed or absent. The package never touches a
// table other than its two. Every per-TAP object is named after the TAP
// (chain tap-<tap>, element <tap> of map taps) and every per-bridge object
// after the bridge (chain host-<bridge>, element <bridge> of map hostblock
// and of set bridges), so they can be listed and removed by name.
//
// Changing rules and sysctls needs root; this package does not obtain it —
// internal/privileged calls it. Every function acts on the network namespace
// of the calling OS thread (nft inherits it).
package guard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"banger/internal/network"
)

// TAPPrefix starts the name of every banger TAP. Frames from a TAP with
// this prefix and no binding are dropped: an idle pool TAP sends nothing.
const TAPPrefix = "bgt-"

// MaxTagLen bounds Binding.Tag, which is stored in an nft comment (nft
// allows 128 bytes).
const MaxTagLen = 100

// Binding is what one TAP may send: frames only from MAC, IPv4 only from
// IP, ARP only announcing MAC at IP. Tag is an opaque owner string kept
// with the rules and returned by List.
type Binding struct {
	TAP string
	MAC net.HardwareAddr
	IP  netip.Addr
	Tag string
}

// Guard installs and lists guard rules through an nft Runner.
type Guard struct {
	run Runner
}

// New returns a Guard that runs nft through run.
func New(run Runner) *Guard { return &Guard{run: run} }

// Bind lets the TAP send only as b says, replacing any earlier binding of
// the same TAP in one transaction. Binding twice is a no-op.
func (g *Guard) Bind(ctx context.Context, b Binding) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("bind tap: %w", err)
	}
	if err := g.apply(ctx, bindScript(b)); err != nil {
		return fmt.Errorf("bind tap %s: %w", b.TAP, err)
	}
	return nil
}

// Unbind removes the TAP's binding. It is a no-op when there is none;
// frames from a banger TAP without a binding are dropped.
func (g *Guard) Unbind(ctx context.Context, tap string) error {
	if err := validateTAP(tap); err != nil {
		return fmt.Errorf("unbind tap: %w", err)
	}
	if err := g.apply(ctx, unbindScript(tap)); err != nil {
		return fmt.Errorf("unbind tap %s: %w", tap, err)
	}
	return nil
}

// List returns the installed bindings, sorted by TAP name, as read back
// from the kernel.
func (g *Guard) List(ctx context.Context) ([]Binding, error) {
	rs, err := g.listRuleset(ctx, "bridge")
	if err != nil {
		return nil, fmt.Errorf("list tap bindings: %w", err)
	}
	bs, err := rs.bindings()
	if err != nil {
		return nil, fmt.Errorf("list tap bindings: %w", err)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].TAP < bs[j].TAP })
	return bs, nil
}

// Lookup returns the TAP's binding and whether it has one.
func (g *Guard) Lookup(ctx context.Context, tap string) (Binding, bool, error) {
	if err := validateTAP(tap); err != nil {
		return Binding{}, false, fmt.Errorf("look up tap binding: %w", err)
	}
	bs, err := g.List(ctx)
	if err != nil {
		return Binding{}, false, err
	}
	for _, b := range bs {
		if b.TAP == tap {
			return b, true, nil
		}
	}
	return Binding{}, false, nil
}

// Version runs `nft --version` (no privilege needed), for doctor.
func (g *Guard) Version(ctx context.Context) (string, error) {
	out, err := g.run.Run(ctx, nil, "--version")
	if err != nil {
		return "", fmt.Errorf("check nft: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (g *Guard) apply(ctx context.Context, script string) error {
	if _, err := g.run.Run(ctx, []byte(script), "-f", "-"); err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	return nil
}

func (b Binding) validate() error {
	if err := validateTAP(b.TAP); err != nil {
		return err
	}
	if len(b.MAC) != 6 {
		return fmt.Errorf("tap %s: mac %q is not a 6-byte Ethernet address", b.TAP, b.MAC.String())
	}
	if b.MAC[0]&1 != 0 || isZero(b.MAC) {
		return fmt.Errorf("tap %s: mac %s is not a unicast address", b.TAP, b.MAC)
	}
	if !b.IP.Is4() || !b.IP.IsGlobalUnicast() {
		return fmt.Errorf("tap %s: ip %q is not a unicast IPv4 address", b.TAP, b.IP.String())
	}
	if err := validateTag(b.Tag); err != nil {
		return fmt.Errorf("tap %s: %w", b.TAP, err)
	}
	return nil
}

func validateTAP(tap string) error {
	if err := network.ValidateName(tap); err != nil {
		return err
	}
	if !strings.HasPrefix(tap, TAPPrefix) || len(tap) == len(TAPPrefix) {
		return fmt.Errorf("tap name %q must start with %q", tap, TAPPrefix)
	}
	return nil
}

// validateTag keeps the tag to characters that need no quoting inside an
// nft string, so it can never end the comment early.
func validateTag(tag string) error {
	if len(tag) > MaxTagLen {
		return fmt.Errorf("tag %q is %d bytes; at most %d allowed", tag, len(tag), MaxTagLen)
	}
	for _, r := range tag {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:=@", r)) {
			return fmt.Errorf("tag %q may only contain A-Z, a-z, 0-9 and -_.:=@", tag)
		}
	}
	return nil
}

func isZero(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}
