package nat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// EnableForwarding sets net.ipv4.ip_forward=1 in the caller's network
// namespace, which routing packets between the bridge and the outside
// requires. It writes only when the value is not already 1.
func (m *Manager) EnableForwarding() error {
	on, err := m.Forwarding()
	if err != nil {
		return err
	}
	if on {
		return nil
	}
	if err := os.WriteFile(m.forwardPath(), []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding: %w", err)
	}
	return nil
}

// Forwarding reports whether net.ipv4.ip_forward is 1. Reading it needs no
// privilege.
func (m *Manager) Forwarding() (bool, error) {
	b, err := os.ReadFile(m.forwardPath())
	if err != nil {
		return false, fmt.Errorf("read ip forwarding: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

func (m *Manager) forwardPath() string {
	return filepath.Join(m.procRoot, "sys/net/ipv4/ip_forward")
}

// Status is what `banger doctor` reports about NAT prerequisites.
type Status struct {
	Version    string // e.g. "iptables v1.8.9 (nf_tables)"
	Backend    string // "nf_tables", "legacy", or "" when not reported
	Forwarding bool   // net.ipv4.ip_forward
}

var backendRE = regexp.MustCompile(`\((nf_tables|legacy)\)`)

// Check reports whether iptables runs, which backend it drives and whether
// forwarding is on. It needs no privilege. A missing iptables is ErrNotFound.
func (m *Manager) Check(ctx context.Context) (Status, error) {
	out, err := m.run.Run(ctx, "-V")
	if err != nil {
		return Status{}, fmt.Errorf("check iptables: %w", err)
	}
	st := Status{Version: strings.TrimSpace(string(out))}
	if sub := backendRE.FindStringSubmatch(st.Version); sub != nil {
		st.Backend = sub[1]
	}
	if st.Forwarding, err = m.Forwarding(); err != nil {
		return st, err
	}
	return st, nil
}
