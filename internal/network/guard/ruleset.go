package guard

import (
	"fmt"
	"net/netip"
	"strings"
)

// Names of banger's nftables objects. Only these tables are ever touched.
const (
	tableName    = "banger"
	tapMap       = "taps"      // bridge: ifname -> jump tap-<tap>
	hostMap      = "hostblock" // inet: ifname -> jump host-<bridge>
	bridgeSet    = "bridges"   // inet: isolated bridges
	tapChainPre  = "tap-"
	hostChainPre = "host-"
	bridgeTable  = "bridge " + tableName
	inetTable    = "inet " + tableName
)

// bridgePreamble creates the bridge table's skeleton if missing and rewrites
// its base chain, whose content never varies, so every transaction leaves
// exactly one copy of each rule. Frames from a TAP with a binding jump to
// its chain (which always ends in a verdict); frames from any other banger
// TAP are dropped. Everything else (other bridges' ports, frames the host
// sends) is not ours and passes.
func bridgePreamble() string {
	var s strings.Builder
	fmt.Fprintf(&s, "add table %s\n", bridgeTable)
	fmt.Fprintf(&s, "add chain %s prerouting { type filter hook prerouting priority -200; policy accept; }\n", bridgeTable)
	fmt.Fprintf(&s, "add map %s %s { type ifname : verdict; }\n", bridgeTable, tapMap)
	fmt.Fprintf(&s, "flush chain %s prerouting\n", bridgeTable)
	fmt.Fprintf(&s, "add rule %s prerouting iifname vmap @%s\n", bridgeTable, tapMap)
	fmt.Fprintf(&s, "add rule %s prerouting iifname \"%s*\" counter drop\n", bridgeTable, TAPPrefix)
	return s.String()
}

// bindScript installs b's chain and map element. The chain is flushed and
// refilled, so a rebind replaces the old rules in the same transaction.
// `ether type` is matched explicitly: it reads the frame's own type field,
// so an 802.1Q-tagged frame (whose tag the kernel moves out of the packet)
// is not taken for IPv4 or ARP. Every input was validated by the caller.
func bindScript(b Binding) string {
	chain := tapChainPre + b.TAP
	var s strings.Builder
	s.WriteString(bridgePreamble())
	fmt.Fprintf(&s, "add chain %s %s\n", bridgeTable, chain)
	fmt.Fprintf(&s, "flush chain %s %s\n", bridgeTable, chain)
	comment := ""
	if b.Tag != "" {
		comment = fmt.Sprintf(" comment \"%s\"", b.Tag)
	}
	fmt.Fprintf(&s, "add rule %s %s ether saddr != %s counter drop%s\n", bridgeTable, chain, b.MAC, comment)
	fmt.Fprintf(&s, "add rule %s %s ether type ip ip saddr %s accept\n", bridgeTable, chain, b.IP)
	fmt.Fprintf(&s, "add rule %s %s ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether %s arp saddr ip %s accept\n",
		bridgeTable, chain, b.MAC, b.IP)
	fmt.Fprintf(&s, "add rule %s %s counter drop\n", bridgeTable, chain)
	fmt.Fprintf(&s, "add element %s %s { \"%s\" : jump %s }\n", bridgeTable, tapMap, b.TAP, chain)
	return s.String()
}

// unbindScript removes tap's element and chain. nft 1.0.6 (Debian 12) has
// no `destroy`, and `delete` of a missing object fails the transaction, so
// the objects are first added (a no-op when present) and then deleted: the
// result is the same whether or not the TAP was bound, with no race
// between a listing and the deletion.
func unbindScript(tap string) string {
	chain := tapChainPre + tap
	var s strings.Builder
	s.WriteString(bridgePreamble())
	fmt.Fprintf(&s, "add chain %s %s\n", bridgeTable, chain)
	fmt.Fprintf(&s, "add element %s %s { \"%s\" : jump %s }\n", bridgeTable, tapMap, tap, chain)
	fmt.Fprintf(&s, "delete element %s %s { \"%s\" }\n", bridgeTable, tapMap, tap)
	fmt.Fprintf(&s, "flush chain %s %s\n", bridgeTable, chain)
	fmt.Fprintf(&s, "delete chain %s %s\n", bridgeTable, chain)
	return s.String()
}

// inetPreamble is bridgePreamble for the inet table: an input chain that
// sends packets arriving on a blocked bridge to that bridge's chain, and a
// forward chain that drops packets the host would route from one isolated
// bridge to another.
func inetPreamble() string {
	var s strings.Builder
	fmt.Fprintf(&s, "add table %s\n", inetTable)
	fmt.Fprintf(&s, "add chain %s input { type filter hook input priority filter; policy accept; }\n", inetTable)
	fmt.Fprintf(&s, "add chain %s forward { type filter hook forward priority filter; policy accept; }\n", inetTable)
	fmt.Fprintf(&s, "add map %s %s { type ifname : verdict; }\n", inetTable, hostMap)
	fmt.Fprintf(&s, "add set %s %s { type ifname; }\n", inetTable, bridgeSet)
	fmt.Fprintf(&s, "flush chain %s input\n", inetTable)
	fmt.Fprintf(&s, "add rule %s input iifname vmap @%s\n", inetTable, hostMap)
	fmt.Fprintf(&s, "flush chain %s forward\n", inetTable)
	fmt.Fprintf(&s, "add rule %s forward iifname @%s oifname @%s counter drop\n", inetTable, bridgeSet, bridgeSet)
	return s.String()
}

// isolateScript adds bridge to the isolated set, or removes it (added
// first, so removal works whether or not it was there).
func isolateScript(bridge string, on bool) string {
	var s strings.Builder
	s.WriteString(inetPreamble())
	fmt.Fprintf(&s, "add element %s %s { \"%s\" }\n", inetTable, bridgeSet, bridge)
	if !on {
		fmt.Fprintf(&s, "delete element %s %s { \"%s\" }\n", inetTable, bridgeSet, bridge)
	}
	return s.String()
}

// blockHostScript drops packets from subnet arriving on bridge for the host
// itself (the input hook sees only those; forwarded packets take the
// forward hook). Replies to connections the host opened stay allowed.
func blockHostScript(bridge string, subnet netip.Prefix) string {
	chain := hostChainPre + bridge
	var s strings.Builder
	s.WriteString(inetPreamble())
	fmt.Fprintf(&s, "add chain %s %s\n", inetTable, chain)
	fmt.Fprintf(&s, "flush chain %s %s\n", inetTable, chain)
	fmt.Fprintf(&s, "add rule %s %s ct state established,related accept\n", inetTable, chain)
	fmt.Fprintf(&s, "add rule %s %s ip saddr %s counter drop\n", inetTable, chain, subnet)
	fmt.Fprintf(&s, "add element %s %s { \"%s\" : jump %s }\n", inetTable, hostMap, bridge, chain)
	return s.String()
}

// allowHostScript removes bridge's block the way unbindScript removes a
// binding.
func allowHostScript(bridge string) string {
	chain := hostChainPre + bridge
	var s strings.Builder
	s.WriteString(inetPreamble())
	fmt.Fprintf(&s, "add chain %s %s\n", inetTable, chain)
	fmt.Fprintf(&s, "add element %s %s { \"%s\" : jump %s }\n", inetTable, hostMap, bridge, chain)
	fmt.Fprintf(&s, "delete element %s %s { \"%s\" }\n", inetTable, hostMap, bridge)
	fmt.Fprintf(&s, "flush chain %s %s\n", inetTable, chain)
	fmt.Fprintf(&s, "delete chain %s %s\n", inetTable, chain)
	return s.String()
}
