package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// EnsureBridge makes sure a bridge called name exists, carries hostAddr
// (e.g. 172.30.0.1/24, the host's address on the VM network) and is up.
// It is idempotent. An existing bridge keeps any other addresses it has;
// an existing link that is not a bridge, or a bridge that already holds the
// same address with a different prefix length, is an error rather than
// something to repair silently.
func EnsureBridge(name string, hostAddr netip.Prefix) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if !hostAddr.IsValid() || !hostAddr.Addr().Is4() {
		return fmt.Errorf("bridge %s: host address %v must be an IPv4 address with a prefix length, e.g. 172.30.0.1/24", name, hostAddr)
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
