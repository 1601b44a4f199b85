package guard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"banger/internal/network"
)

// DisableIPv6 turns IPv6 off on ifname (net.ipv6.conf.<if>.accept_ra=0,
// then disable_ipv6=1), in the calling thread's network namespace. With
// IPv6 on, a bridge accepts router advertisements from any guest and gives
// the host a default route through it. A kernel without IPv6 (no
// /proc/sys/net/ipv6) needs nothing and is not an error; a missing
// interface is.
func DisableIPv6(ifname string) error { return disableIPv6("/proc", ifname) }

func disableIPv6(procRoot, ifname string) error {
	if err := network.ValidateName(ifname); err != nil {
		return fmt.Errorf("disable ipv6: %w", err)
	}
	base := filepath.Join(procRoot, "sys/net/ipv6")
	if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("disable ipv6 on %s: %w", ifname, err)
	}
	dir := filepath.Join(base, "conf", ifname)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("disable ipv6 on %s: %w", ifname, err)
	}
	for _, kv := range [][2]string{{"accept_ra", "0"}, {"disable_ipv6", "1"}} {
		if err := os.WriteFile(filepath.Join(dir, kv[0]), []byte(kv[1]+"\n"), 0o644); err != nil {
			return fmt.Errorf("disable ipv6 on %s: set %s: %w", ifname, kv[0], err)
		}
	}
	return nil
}
