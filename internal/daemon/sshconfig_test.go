package daemon

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/sshconfig"
)

// TestSSHConfigFollowsVMs: banger's OpenSSH config has one entry per VM,
// written on create, gone on delete and on a failed create, and rebuilt
// from the store by a restarted daemon.
func TestSSHConfigFollowsVMs(t *testing.T) {
	host := newFakeHost()
	base := t.TempDir()
	td := newTestDaemon(t, host, base)
	ctx := context.Background()
	read := func() []byte {
		b, err := os.ReadFile(td.layout.SSHConfig())
		if err != nil {
			t.Fatalf("read ssh config: %v", err)
		}
		return b
	}

	a := td.create(t, "calm-otter")
	b := td.create(t, "web")
	entry, ok := sshconfig.Select(read(), "calm-otter")
	for _, want := range []string{"Host calm-otter calm-otter.vm", "HostName " + a.IP, "HostKeyAlias banger-" + a.ID, "IdentityFile " + td.layout.SSHKey(), "UserKnownHostsFile " + td.layout.KnownHosts(), "StrictHostKeyChecking yes"} {
		if !ok || !strings.Contains(entry, want) {
			t.Errorf("calm-otter's entry lacks %q:\n%s", want, read())
		}
	}
	if st, _ := os.Stat(td.layout.SSHConfig()); st.Mode().Perm() != 0o600 {
		t.Errorf("ssh config mode %v", st.Mode().Perm())
	}
	// The known_hosts entry the config points at is the VM's.
	if kh, _ := os.ReadFile(td.layout.KnownHosts()); !strings.Contains(string(kh), "banger-"+a.ID+" ") {
		t.Errorf("known_hosts lacks banger-%s", a.ID)
	}

	if _, err := td.DeleteVM(ctx, "calm-otter", true); err != nil {
		t.Fatal(err)
	}
	if _, ok := sshconfig.Select(read(), "calm-otter"); ok {
		t.Errorf("deleted vm still in the ssh config:\n%s", read())
	}
	if _, ok := sshconfig.Select(read(), "web"); !ok {
		t.Errorf("web lost from the ssh config")
	}

	host.drv.mu.Lock()
	host.drv.failStart = errors.New("vmm exploded")
	host.drv.mu.Unlock()
	if _, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "doomed", DiskSize: 64 << 20}, nil); err == nil {
		t.Fatal("create with a failing vmm succeeded")
	}
	if _, ok := sshconfig.Select(read(), "doomed"); ok {
		t.Errorf("failed create left an entry:\n%s", read())
	}
	host.drv.mu.Lock()
	host.drv.failStart = nil
	host.drv.mu.Unlock()

	// A daemon started on the same state rewrites the file from the store.
	os.Remove(td.layout.SSHConfig())
	td.Close()
	td2 := newTestDaemon(t, host, base)
	defer td2.Close()
	if e, ok := sshconfig.Select(read(), "web"); !ok || !strings.Contains(e, "HostName "+b.IP) {
		t.Errorf("restarted daemon did not rewrite the ssh config:\n%s", read())
	}
	td2.DeleteVM(ctx, "web", true)
}
