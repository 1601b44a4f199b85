package network

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// NamedNamespace returns the name under /run/netns (as `ip netns add`
// makes them) of this process's network namespace, or "" when it is in
// none of those, which normally means the host's own namespace.
func NamedNamespace() (string, error) {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &self); err != nil {
		return "", fmt.Errorf("stat own network namespace: %w", err)
	}
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("list /run/netns: %w", err)
	}
	for _, e := range entries {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/run/netns", e.Name()), &st) == nil && st.Dev == self.Dev && st.Ino == self.Ino {
			return e.Name(), nil
		}
	}
	return "", nil
}
