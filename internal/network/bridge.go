package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// EnsureBridge makes sure a bridge called name exists, carries hostAddr
// (e.g. 172.30.0.1/24, the host's address on the VM network), is up and is
// claimed by owner (its alias). It is idempotent. An existing bridge keeps
// any other addresses it has; an existing link that is not a bridge, a
// bridge that already holds the same address with a different prefix
// length, another link holding an address of the subnet, or a bridge
// claimed by another installation that still has TAPs on it is an error
// rather than something to repair silently.
func EnsureBridge(name string, hostAddr netip.Prefix, owner Owner) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if !hostAddr.IsValid() || !hostAddr.Addr().Is4() {
		return fmt.Errorf("bridge %s: host address %v must be an IPv4 address with a prefix length, e.g. 172.30.0.1/24", name, hostAddr)
	}
	if err := owner.Validate(); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := subnetFree(name, hostAddr.Masked()); err != nil {
		return err
	}

	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, errExist) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("look up bridge %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("bridge %s: a %s link of that name already exists", name, link.Type())
	}

	if err := claim(link, owner); err != nil {
		return err
	}
	if err := ensureAddr(link, hostAddr); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

func ensureAddr(link netlink.Link, want netip.Prefix) error {
	name := link.Attrs().Name
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		addrs, err = netlink.AddrList(link, netlink.FAMILY_V4) // see linkList
	}
	if err != nil {
		return fmt.Errorf("list addresses of bridge %s: %w", name, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != want.Addr() {
			continue
		}
		if ones, _ := a.Mask.Size(); ones != want.Bits() {
			return fmt.Errorf("bridge %s already has %s/%d, not %s: remove it or change bridge_cidr", name, ip, ones, want)
		}
		return nil
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP:   want.Addr().AsSlice(),
		Mask: net.CIDRMask(want.Bits(), 32),
	}}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, errExist) {
		return fmt.Errorf("add address %s to bridge %s: %w", want, name, err)
	}
	return nil
}

// claim makes owner the bridge's installation. A bridge claimed by another
// installation is taken over only when no TAP of that installation is
// attached to it any more (its VMs and its daemon are gone); otherwise two
// installations would hand out the same addresses on one bridge.
func claim(br netlink.Link, owner Owner) error {
	name := br.Attrs().Name
	if err := inUseByOther(br, owner); err != nil {
		return err
	}
	if br.Attrs().Alias == owner.Tag() {
		return nil
	}
	if err := netlink.LinkSetAlias(br, owner.Tag()); err != nil {
		return fmt.Errorf("claim bridge %s: %w", name, err)
	}
	return nil
}

func inUseByOther(br netlink.Link, owner Owner) error {
	if prev, ok := ParseTag(br.Attrs().Alias); !ok || prev == owner {
		return nil
	}
	links, err := linkList()
	if err != nil {
		return fmt.Errorf("bridge %s: list links: %w", br.Attrs().Name, err)
	}
	for _, l := range links {
		info, isTAP := tapInfo(l)
		if isTAP && l.Attrs().MasterIndex == br.Attrs().Index && info.Tagged && info.Owner != owner {
			return &BridgeInUseError{Bridge: br.Attrs().Name, Other: info.Owner, TAP: info.Name}
		}
	}
	return nil
}

// CheckBridgeFree reports a BridgeInUseError when another installation
// has claimed the bridge and still has TAPs on it. A missing bridge is
// free. It needs no privilege.
func CheckBridgeFree(name string, owner Owner) error {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	return inUseByOther(link, owner)
}

// BridgeInUseError is a bridge another banger installation is using.
type BridgeInUseError struct {
	Bridge string
	Other  Owner
	TAP    string
}

func (e *BridgeInUseError) Error() string {
	return fmt.Sprintf("bridge %s is in use by another banger installation (%s; its tap %s is attached): stop that installation's VMs and daemon, or give this one its own bridge_name and bridge_cidr (an administrator allots them in /etc/banger/helper.toml)", e.Bridge, e.Other, e.TAP)
}

// subnetFree refuses a subnet that a link other than the bridge already
// has an address in: the bridge would take over its route.
func subnetFree(bridge string, subnet netip.Prefix) error {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		addrs, err = netlink.AddrList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		theirs := netip.PrefixFrom(ip.Unmap(), ones).Masked()
		if !theirs.Overlaps(subnet) {
			continue
		}
		l, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil || l.Attrs().Name == bridge {
			continue
		}
		return fmt.Errorf("bridge %s: subnet %s overlaps %s on %s: choose another bridge_cidr (an administrator allots them in /etc/banger/helper.toml)", bridge, subnet, theirs, l.Attrs().Name)
	}
	return nil
}
