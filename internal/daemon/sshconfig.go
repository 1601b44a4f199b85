package daemon

import (
	"banger/internal/knownhosts"

	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	"banger/internal/sshconfig"
)

// sshConfigMu serialises rewrites of the OpenSSH config file. Each rewrite
// renders the store as it is at that moment, so the last one wins with
// the freshest list.
var sshConfigMu sync.Mutex

// sshConfigCap: the VM's Host entry in banger's OpenSSH config
// (paths.Layout.SSHConfig), kept while the VM exists, running or not.
type sshConfigCap struct{ base }

func (sshConfigCap) name() string { return "ssh config" }

func (c sshConfigCap) prepare(ctx context.Context, op *vmOp) error {
	return c.d.writeSSHConfig(ctx, "")
}

func (c sshConfigCap) destroy(ctx context.Context, op *vmOp) error {
	return c.d.writeSSHConfig(ctx, op.v.ID)
}

// writeSSHConfig renders one entry per stored VM except the one with id
// without (a VM being deleted is still in the store) and replaces the file
// atomically.
func (d *Daemon) writeSSHConfig(ctx context.Context, without string) error {
	sshConfigMu.Lock()
	defer sshConfigMu.Unlock()
	vms, err := d.store.ListVMs(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("write ssh config: %w", err)
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	var entries []sshconfig.Entry
	for _, v := range vms {
		if v.ID == without || !v.IP.IsValid() {
			continue
		}
		entries = append(entries, sshconfig.Entry{Name: v.Name, Address: v.IP.String(), HostKeyAlias: knownhosts.HostKeyAlias(v.ID)})
	}
	if err := os.MkdirAll(d.layout.SSHDir(), 0o700); err != nil {
		return fmt.Errorf("write ssh config: %w", err)
	}
	body := sshconfig.Render(entries, sshconfig.Options{IdentityFile: d.layout.SSHKey(), KnownHosts: d.layout.KnownHosts()})
	return sshconfig.WriteFile(d.layout.SSHConfig(), body, 0o600)
}
