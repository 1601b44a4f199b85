package daemon

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// knownHostsMu serialises rewrites of the banger-managed known_hosts file.
var knownHostsMu sync.Mutex

// HostKeyAlias is the name a VM's host key is recorded under; ssh is run
// with -o HostKeyAlias=... so a reused guest address never trips a stale
// entry.
func HostKeyAlias(id string) string { return "banger-" + id }

func (d *Daemon) addKnownHost(id, pub string) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	lines := d.knownHostsWithout(id)
	lines = append(lines, HostKeyAlias(id)+" "+strings.TrimSpace(pub))
	return d.writeKnownHosts(lines)
}

func (d *Daemon) removeKnownHost(id string) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	return d.writeKnownHosts(d.knownHostsWithout(id))
}

func (d *Daemon) knownHostsWithout(id string) []string {
	b, _ := os.ReadFile(d.layout.KnownHosts())
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, HostKeyAlias(id)+" ") {
			continue
		}
		out = append(out, line)
	}
	return out
}

func (d *Daemon) writeKnownHosts(lines []string) error {
	if err := os.MkdirAll(d.layout.SSHDir(), 0o700); err != nil {
		return err
	}
	tmp := d.layout.KnownHosts() + ".tmp"
	body := strings.Join(lines, "\n")
	if body != "" {
		body += "\n"
	}
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write known_hosts: %w", err)
	}
	return os.Rename(tmp, d.layout.KnownHosts())
}
