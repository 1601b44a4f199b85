package dns

import (
	"fmt"
	"net"
)

// The host resolver has to send .vm lookups to bangerd; these are the
// instructions doctor and the README print. Each takes the server address
// (e.g. DefaultAddr) and, where relevant, the bridge name.

// RecipeResolved is for hosts whose /etc/resolv.conf points at
// systemd-resolved's stub (127.0.0.53). resolved accepts ADDRESS:PORT in
// DNS= and in resolvectl dns since systemd 246; older versions can only use
// port 53 and need the dnsmasq recipe instead.
func RecipeResolved(addr, bridge string) string {
	return fmt.Sprintf(`systemd-resolved (systemd >= 246; check with: resolvectl --version)
  Persistent, for all links (a drop-in):
    sudo mkdir -p /etc/systemd/resolved.conf.d
    printf '[Resolve]\nDNS=%[1]s\nDomains=~vm\n' | sudo tee /etc/systemd/resolved.conf.d/banger.conf
    sudo systemctl restart systemd-resolved
  resolved may also try this server for other names when no link claims
  them; bangerd answers REFUSED there and resolved uses the other servers.
  Or only on the bridge, until it is recreated or the host reboots:
    sudo resolvectl dns %[2]s %[1]s
    sudo resolvectl domain %[2]s '~vm'
    sudo resolvectl default-route %[2]s false
  Test: resolvectl query <vm-name>.vm
`, addr, bridge)
}

// RecipeDnsmasq is for hosts running dnsmasq (directly or as
// NetworkManager's dns=dnsmasq plugin). rebind-domain-ok is needed because
// the answers are private addresses, which dnsmasq's rebind protection
// would otherwise drop.
func RecipeDnsmasq(addr string) string {
	host, port := hostPort(addr)
	return fmt.Sprintf(`dnsmasq
  printf 'server=/vm/%[1]s#%[2]s\nrebind-domain-ok=/vm/\n' | sudo tee /etc/dnsmasq.d/banger.conf
  sudo systemctl restart dnsmasq
  With NetworkManager's dnsmasq plugin write the same two lines to
  /etc/NetworkManager/dnsmasq.d/banger.conf and run: sudo nmcli general reload
  Test: dig +short <vm-name>.vm
`, host, port)
}

// RecipePlain is for hosts with a plain /etc/resolv.conf and no local
// resolver: resolv.conf cannot name a port, so a forwarding resolver is
// needed in between.
func RecipePlain(addr string) string {
	host, port := hostPort(addr)
	return fmt.Sprintf(`plain /etc/resolv.conf (no local resolver)
  A nameserver line cannot carry a port. Install dnsmasq (sudo apt install
  dnsmasq), apply the dnsmasq recipe, and make "nameserver 127.0.0.1" the
  first line of /etc/resolv.conf. To try without changing anything:
    dig @%s -p %s <vm-name>.vm
`, host, port)
}

// hostPort splits addr for tools that take the port separately.
func hostPort(addr string) (host, port string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "53"
	}
	return h, p
}
