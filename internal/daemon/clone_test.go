package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/guestconfig"
)

func TestClone(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	src := td.create(t, "calm-otter")

	if _, err := td.CloneVM(ctx, "calm-otter", api.CloneVMRequest{Name: "copy"}, nil); err == nil || !strings.Contains(err.Error(), "only a stopped vm") {
		t.Fatalf("clone of a running vm: %v", err)
	}
	if _, err := td.StopVM(ctx, "calm-otter", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ name, want string }{{"calm-otter", "already exists"}, {"", "needs a name"}, {"Bad_Name!", "name"}} {
		if _, err := td.CloneVM(ctx, "calm-otter", api.CloneVMRequest{Name: bad.name}, nil); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("clone to %q: %v, want %q", bad.name, err, bad.want)
		}
	}
	if vms, _ := td.ListVMs(ctx); len(vms) != 1 {
		t.Fatalf("a refused clone left %d vms", len(vms))
	}
	c, err := td.CloneVM(ctx, "calm-otter", api.CloneVMRequest{Name: "copy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != api.StateStopped || c.ID == src.ID || c.IP == src.IP || c.MAC == src.MAC || c.MemoryMiB != src.MemoryMiB || c.DiskSize != src.DiskSize {
		t.Fatalf("clone %+v of %+v", c, src)
	}
	sd, cd := td.layout.VM(src.ID), td.layout.VM(c.ID)
	for _, f := range []string{"/upper/etc/hostname", "/upper" + guestconfig.HostKeyPath + ".pub", "/upper" + guestconfig.NetworkUnitPath, "/upper" + guestconfig.AgentTokenPath} {
		if a, b := debugfsCat(t, sd.Overlay(), f), debugfsCat(t, cd.Overlay(), f); a == b {
			t.Errorf("clone's %s is its source's: %q", f, a)
		}
	}
	if got := debugfsCat(t, cd.Overlay(), "/upper/etc/hostname"); got != "copy\n" {
		t.Errorf("clone hostname %q", got)
	}
	if id := debugfsCat(t, cd.Overlay(), "/upper"+guestconfig.MachineIDPath); len(strings.TrimSpace(id)) != 32 {
		t.Errorf("clone machine-id %q", id)
	}
	if !strings.Contains(debugfsCat(t, cd.Overlay(), "/upper"+guestconfig.NetworkUnitPath), c.IP) {
		t.Error("clone's network unit lacks its address")
	}
	a, _ := os.ReadFile(sd.AgentToken())
	b, _ := os.ReadFile(cd.AgentToken())
	if len(b) == 0 || string(a) == string(b) {
		t.Error("clone shares its source's agent token")
	}
	kh, _ := os.ReadFile(td.layout.KnownHosts())
	if !strings.Contains(string(kh), "banger-"+c.ID+" ") || host.dns["copy"].String() != c.IP {
		t.Errorf("clone not in known_hosts or dns: %q %v", kh, host.dns)
	}
	if v, err := td.StartVM(ctx, "copy", nil); err != nil || v.State != api.StateRunning {
		t.Fatalf("start clone: %v %+v", err, v)
	}
	if _, err := td.DeleteVM(ctx, "copy", true); err != nil {
		t.Error(err)
	}
}
