// Package allotment decides which part of the host's network each user's
// banger may use: one bridge, one IPv4 subnet on it, and TAPs named with
// banger's prefix on that bridge. The privileged helper enforces it (it is
// the helper's policy, never taken from a request), and bangerd and doctor
// read it to pick and check their defaults.
//
// The policy is the root-owned file /etc/banger/helper.toml, or built-in
// defaults derived from the uid: root gets banger0 with 172.30.0.0/24, as
// banger always had; every other uid gets its own bridge and a /24 inside
// 172.30.0.0/16, so two users on one host never share a bridge or hand out
// the same addresses. Two uids whose defaults collide (the subnet is chosen
// by uid modulo 255) are told so by the helper, and an administrator
// resolves it in helper.toml.
package allotment

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"sort"
	"strconv"
	"syscall"

	"github.com/BurntSushi/toml"

	"banger/internal/network"
)

// DefaultPath is where the helper's policy lives.
const DefaultPath = "/etc/banger/helper.toml"

// Allotment is what one user may use.
type Allotment struct {
	UID    int
	Bridge string
	// Subnet is the network of the bridge (e.g. 172.30.0.0/24); the host
	// holds its first address, guests the rest.
	Subnet netip.Prefix
	// Source says where the allotment came from, for messages.
	Source string
}

// Gateway is the host's address on the bridge, with the subnet's length.
func (a Allotment) Gateway() netip.Prefix {
	return netip.PrefixFrom(a.Subnet.Addr().Next(), a.Subnet.Bits())
}

// GuestAddr reports whether ip may be given to one of the user's guests:
// inside the subnet, and neither its network, gateway nor broadcast address.
func (a Allotment) GuestAddr(ip netip.Addr) bool {
	if !ip.Is4() || !a.Subnet.Contains(ip) || ip == a.Subnet.Addr() || ip == a.Gateway().Addr() {
		return false
	}
	return ip != lastAddr(a.Subnet)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (a Allotment) String() string {
	return fmt.Sprintf("bridge %s with %s (%s)", a.Bridge, a.Subnet, a.Source)
}

// Default is the built-in allotment of uid.
func Default(uid int) Allotment {
	a := Allotment{UID: uid, Source: "built-in default for uid " + strconv.Itoa(uid)}
	if uid == 0 {
		a.Bridge, a.Subnet = "banger0", netip.MustParsePrefix("172.30.0.0/24")
		return a
	}
	a.Bridge = "banger" + strconv.Itoa(uid)
	if len(a.Bridge) > 15 {
		a.Bridge = fmt.Sprintf("bgr%08x", uint32(uid))
	}
	a.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 30, byte(1 + uid%255), 0}), 24)
	return a
}

// Policy is the parsed helper.toml.
type Policy struct {
	Path  string
	users map[int]Allotment
}

// file is helper.toml's layout:
//
//	[users.alice]          # a user name or a numeric uid
//	bridge_name = "bgr-alice"
//	bridge_cidr = "10.77.0.0/24"
type file struct {
	Users map[string]struct {
		BridgeName string `toml:"bridge_name"`
		BridgeCIDR string `toml:"bridge_cidr"`
	} `toml:"users"`
}

// Load reads the policy at path. A missing file is an empty policy (every
// user gets the defaults). When mustBeRootOwned is set (the helper, which
// runs as root), a file that is not owned by root or is writable by group
// or others is refused: anyone able to edit it could hand themselves
// another user's bridge.
func Load(path string, mustBeRootOwned bool) (*Policy, error) {
	p := &Policy{Path: path, users: map[int]Allotment{}}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read helper policy %s: %w", path, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); mustBeRootOwned && (!ok || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0) {
		return nil, fmt.Errorf("helper policy %s must be owned by root and writable by no one else (mode %v): fix it with `chown root:root %s && chmod 0644 %s`", path, st.Mode().Perm(), path, path)
	}
	var f file
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return nil, fmt.Errorf("helper policy %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("helper policy %s: unknown key %s (allowed: [users.NAME] bridge_name, bridge_cidr)", path, und[0])
	}
	names := make([]string, 0, len(f.Users))
	for n := range f.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	bridges := map[string]string{}
	for _, name := range names {
		u := f.Users[name]
		uid, err := lookupUID(name)
		if err != nil {
			return nil, fmt.Errorf("helper policy %s: [users.%s]: %w", path, name, err)
		}
		a := Allotment{UID: uid, Bridge: u.BridgeName, Source: path}
		if err := network.ValidateName(a.Bridge); err != nil {
			return nil, fmt.Errorf("helper policy %s: [users.%s] bridge_name = %q: %w", path, name, u.BridgeName, err)
		}
		a.Subnet, err = netip.ParsePrefix(u.BridgeCIDR)
		if err != nil || !a.Subnet.Addr().Is4() || a.Subnet.Masked() != a.Subnet || a.Subnet.Bits() < 16 || a.Subnet.Bits() > 29 {
			return nil, fmt.Errorf("helper policy %s: [users.%s] bridge_cidr = %q: must be an IPv4 network between /16 and /29 with no host bits set, e.g. 172.30.5.0/24", path, name, u.BridgeCIDR)
		}
		if other, dup := bridges[a.Bridge]; dup {
			return nil, fmt.Errorf("helper policy %s: bridge %s is given to both %s and %s", path, a.Bridge, other, name)
		}
		bridges[a.Bridge] = name
		if _, dup := p.users[uid]; dup {
			return nil, fmt.Errorf("helper policy %s: uid %d appears twice", path, uid)
		}
		p.users[uid] = a
	}
	return p, nil
}

// For is uid's allotment: its entry in the policy, else the default.
func (p *Policy) For(uid int) Allotment {
	if a, ok := p.users[uid]; ok {
		return a
	}
	return Default(uid)
}

func lookupUID(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("uid %d is negative", n)
		}
		return n, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("no such user %q", name)
	}
	return strconv.Atoi(u.Uid)
}
