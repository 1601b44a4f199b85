// Package network owns banger's host-side link plumbing: the bridge the VMs
// share and the per-VM TAP devices, driven through netlink (never by running
// `ip`). Creating or changing links needs root; this package does not decide
// how that privilege is obtained — internal/privileged calls it, in-process
// as root or behind `sudo -n`. Listing links needs no privilege. NAT rules
// live in nat/, the warm TAP pool in tappool/.
//
// Every function acts on the network namespace of the calling OS thread.
package network

import (
	"crypto/sha256"
	"fmt"
	"net"
)

// MaxNameLen is the longest Linux interface name (IFNAMSIZ minus the NUL).
const MaxNameLen = 15

// ValidateName checks an interface name before it reaches the kernel:
// 1-15 bytes of a-z, 0-9, '-' and '_' (the same set config accepts for
// bridge_name). The set is deliberately narrow because names arrive from an
// unprivileged process and are acted on as root.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("interface name must not be empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("interface name %q is %d bytes; Linux allows at most %d", name, len(name), MaxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("interface name %q may only contain a-z, 0-9, '-' and '_'", name)
		}
	}
	return nil
}

// MACFromID derives a stable guest MAC address from a VM id: the first
// octet is 0x02 (locally administered, unicast) and the other five come
// from a SHA-256 of the id, so a VM keeps its MAC across restarts without
// storing it.
func MACFromID(id string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(id))
	mac := make(net.HardwareAddr, 6)
	mac[0] = 0x02
	copy(mac[1:], sum[:5])
	return mac
}
