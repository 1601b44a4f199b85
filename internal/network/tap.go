package network

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var errExist = unix.EEXIST

// tapFlags are the TUNSETIFF flags of every banger TAP: an Ethernet device
// without the packet-information prefix and with virtio-net headers, which
// is how both Firecracker and qemu (vnet_hdr=on) open it. IFF_TUN_EXCL makes
// creation fail instead of silently attaching to a device someone else made.
const tapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR

// TAPInfo is what the kernel reports about a TAP device.
type TAPInfo struct {
	Name string
	// UID and GID may open the device. The kernel omits them when unset,
	// which reads as 0 here; banger always sets both.
	UID        int
	GID        int
	VnetHdr    bool
	NoPI       bool
	MultiQueue bool
	Persist    bool
	Master     string // bridge it is enslaved to, "" when none
	Up         bool
	// Owner is read from the link's alias, which CreateTAP sets (only
	// root can); Tagged is false for a TAP banger did not create.
	Owner  Owner
	Tagged bool
}

// CreateTAP creates a persistent TAP device owned by owner.UID:gid, so a
// VMM running as that user can open it without privileges, tags it with
// owner (its alias), enslaves it to bridge and sets it up. An existing TAP
// with the same owner, tag and flags is accepted (and re-attached to bridge
// and set up); any other existing link of that name is an error. On
// failure nothing new is left behind.
func CreateTAP(name string, owner Owner, gid int, bridge string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateName(bridge); err != nil {
		return err
	}
	if err := owner.Validate(); err != nil {
		return fmt.Errorf("create tap %s: %w", name, err)
	}
	uid := owner.UID
	if gid < 0 || gid > math.MaxInt32 {
		return fmt.Errorf("create tap %s: group %d out of range", name, gid)
	}
	br, err := lookupBridge(bridge)
	if err != nil {
		return fmt.Errorf("create tap %s: %w", name, err)
	}

	created := false
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		if err := createTAPDevice(name, uid, gid); err != nil {
			return fmt.Errorf("create tap %s: %w", name, err)
		}
		created = true
		link, err = netlink.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("look up tap %s: %w", name, err)
	}
	if !created {
		if err := sameTAP(link, owner, gid); err != nil {
			return fmt.Errorf("create tap %s: %w", name, err)
		}
	} else if err := netlink.LinkSetAlias(link, owner.Tag()); err != nil {
		_ = netlink.LinkDel(link)
		return fmt.Errorf("tag tap %s: %w", name, err)
	}

	if err := attachTAP(link, br); err != nil {
		if created {
			_ = netlink.LinkDel(link)
		}
		return err
	}
	return nil
}

func attachTAP(link, br netlink.Link) error {
	name := link.Attrs().Name
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(link, br); err != nil {
			return fmt.Errorf("attach tap %s to bridge %s: %w", name, br.Attrs().Name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set tap %s up: %w", name, err)
	}
	return nil
}

// createTAPDevice makes the device with the tun ioctls directly rather than
// through netlink.LinkAdd, so errors keep their errno (EPERM, EBUSY) for
// callers and for errors.Is. Until TUNSETPERSIST succeeds the device lives
// only as long as fd, so an early failure leaves nothing behind.
func createTAPDevice(name string, uid, gid int) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(tapFlags | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, uid); err != nil {
		return fmt.Errorf("TUNSETOWNER %d: %w", uid, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETGROUP, gid); err != nil {
		return fmt.Errorf("TUNSETGROUP %d: %w", gid, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	return nil
}

// sameTAP reports why an existing link cannot stand in for the TAP that
// CreateTAP would make, or nil when it can.
func sameTAP(link netlink.Link, owner Owner, gid int) error {
	info, ok := tapInfo(link)
	if !ok {
		return fmt.Errorf("a %s link of that name already exists", link.Type())
	}
	var diffs []string
	if info.UID != owner.UID || info.GID != gid {
		diffs = append(diffs, fmt.Sprintf("owner %d:%d, want %d:%d", info.UID, info.GID, owner.UID, gid))
	}
	if !info.Tagged || info.Owner != owner {
		diffs = append(diffs, fmt.Sprintf("tag %q, want %q", link.Attrs().Alias, owner.Tag()))
	}
	if !info.NoPI || !info.VnetHdr || info.MultiQueue {
		diffs = append(diffs, fmt.Sprintf("flags no_pi=%t vnet_hdr=%t multi_queue=%t, want true true false", info.NoPI, info.VnetHdr, info.MultiQueue))
	}
	if !info.Persist {
		diffs = append(diffs, "not persistent")
	}
	if len(diffs) > 0 {
		return fmt.Errorf("an existing tap differs (%s)", strings.Join(diffs, "; "))
	}
	return nil
}

// DeleteTAP removes a TAP device. A missing device is not an error; a link
// of that name that is not a TAP is refused, so a mistyped name cannot take
// down a host interface.
func DeleteTAP(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up tap %s: %w", name, err)
	}
	if _, ok := tapInfo(link); !ok {
		return fmt.Errorf("delete tap %s: it is a %s link, not a tap", name, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete tap %s: %w", name, err)
	}
	return nil
}

// ListTAPs returns the names of TAP devices starting with prefix, sorted.
// It needs no privilege.
func ListTAPs(prefix string) ([]string, error) {
	links, err := linkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var names []string
	for _, l := range links {
		if _, ok := tapInfo(l); ok && strings.HasPrefix(l.Attrs().Name, prefix) {
			names = append(names, l.Attrs().Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// InspectTAP reports the kernel's view of a TAP device.
func InspectTAP(name string) (TAPInfo, error) {
	if err := ValidateName(name); err != nil {
		return TAPInfo{}, err
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return TAPInfo{}, fmt.Errorf("look up tap %s: %w", name, err)
	}
	info, ok := tapInfo(link)
	if !ok {
		return TAPInfo{}, fmt.Errorf("inspect tap %s: it is a %s link, not a tap", name, link.Type())
	}
	if idx := link.Attrs().MasterIndex; idx != 0 {
		master, err := netlink.LinkByIndex(idx)
		if err != nil {
			return TAPInfo{}, fmt.Errorf("look up master of tap %s: %w", name, err)
		}
		info.Master = master.Attrs().Name
	}
	return info, nil
}

func tapInfo(link netlink.Link) (TAPInfo, bool) {
	t, ok := link.(*netlink.Tuntap)
	if !ok || t.Mode != netlink.TUNTAP_MODE_TAP {
		return TAPInfo{}, false
	}
	owner, tagged := ParseTag(t.Attrs().Alias)
	return TAPInfo{
		Owner:      owner,
		Tagged:     tagged,
		Name:       t.Name,
		UID:        int(t.Owner),
		GID:        int(t.Group),
		VnetHdr:    t.Flags&netlink.TUNTAP_VNET_HDR != 0,
		NoPI:       t.Flags&netlink.TUNTAP_NO_PI != 0,
		MultiQueue: t.Flags&netlink.TUNTAP_MULTI_QUEUE != 0,
		Persist:    !t.NonPersist,
		Up:         t.Attrs().Flags&net.FlagUp != 0,
	}, true
}

func lookupBridge(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil, fmt.Errorf("bridge %s does not exist", name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return nil, fmt.Errorf("%s is a %s link, not a bridge", name, link.Type())
	}
	return link, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// linkList lists links, retrying a dump the kernel reports as interrupted
// (NLM_F_DUMP_INTR: links changed while it was read, e.g. while the TAP
// pool creates one), which would otherwise return a partial list.
func linkList() ([]netlink.Link, error) {
	var err error
	for i := 0; i < 10; i++ {
		var links []netlink.Link
		links, err = netlink.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return links, err
		}
	}
	return nil, err
}
