package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/vmm"
)

func TestSuspendResume(t *testing.T) {
	host := newFakeHost()
	host.drv.agent = &fakeAgent{}
	base := t.TempDir()
	td := newTestDaemon(t, host, base)
	ctx := context.Background()
	vm, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "calm-otter", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1, NAT: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := td.layout.VM(vm.ID)

	if _, err := td.ResumeVM(ctx, "calm-otter", nil); err == nil || !strings.Contains(err.Error(), "not suspended") {
		t.Fatalf("resume of a running vm: %v", err)
	}
	s, err := td.SuspendVM(ctx, "calm-otter", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != api.StateSuspended || s.PID != 0 || s.TAP != "" || host.tapCount() != 0 || host.nat[vm.ID] {
		t.Fatalf("after suspend: %+v taps=%d nat=%v", s, host.tapCount(), host.nat)
	}
	if (vmm.Process{PID: vm.PID}).Alive() {
		t.Fatal("vmm alive after suspend")
	}
	if syncs, _ := host.drv.agent.counts(); syncs != 1 {
		t.Errorf("guest filesystems synced %d times before the save, want 1", syncs)
	}
	if _, err := os.Stat(dir.SnapshotMemory()); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err == nil || !strings.Contains(err.Error(), "already suspended") {
		t.Errorf("suspend twice: %v", err)
	}
	mem, nat := 512, false
	for _, req := range []api.SetVMRequest{{MemoryMiB: &mem}, {NAT: &nat}} {
		if _, err := td.SetVM(ctx, "calm-otter", req); err == nil || !strings.Contains(err.Error(), "suspended") {
			t.Errorf("set while suspended: %v", err)
		}
	}
	if _, err := td.CloneVM(ctx, "calm-otter", api.CloneVMRequest{Name: "copy"}, nil); err == nil || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("clone of a suspended vm: %v", err)
	}

	// A restarted daemon keeps the VM suspended.
	td.Close()
	td = newTestDaemon(t, host, base)
	defer td.Close()
	if v, _ := td.GetVM(ctx, "calm-otter"); v.State != api.StateSuspended || v.MemoryMiB != 256 || !v.NAT {
		t.Fatalf("after daemon restart: %+v", v)
	}

	overlayBefore, _ := os.Stat(dir.Overlay())
	r, err := td.ResumeVM(ctx, "calm-otter", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The saved guest has the overlay mounted: a resume must not write it.
	if after, _ := os.Stat(dir.Overlay()); !after.ModTime().Equal(overlayBefore.ModTime()) {
		t.Errorf("resume wrote the overlay (mtime %v -> %v)", overlayBefore.ModTime(), after.ModTime())
	}
	if r.State != api.StateRunning || r.LastError != "" || host.drv.restores != 1 || !host.nat[vm.ID] || host.tapCount() != 1 {
		t.Fatalf("after resume: %+v restores=%d nat=%v taps=%d", r, host.drv.restores, host.nat, host.tapCount())
	}
	if _, clocks := host.drv.agent.counts(); clocks != 1 {
		t.Errorf("guest clock set %d times after resume, want 1", clocks)
	}
	if _, err := os.Stat(dir.SnapshotMemory()); !os.IsNotExist(err) {
		t.Errorf("snapshot kept after resume: %v", err)
	}

	// vm start of a suspended VM resumes it.
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := td.StartVM(ctx, "calm-otter", nil); err != nil || v.State != api.StateRunning || host.drv.restores != 2 {
		t.Fatalf("start of a suspended vm: %v %+v restores=%d", err, v, host.drv.restores)
	}

	// A damaged snapshot: start boots from the disks and says so.
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir.SnapshotMemory(), []byte("garbage"), 0o600)
	var msgs []string
	st, err := td.StartVM(ctx, "calm-otter", progressFn(func(e api.Event) { msgs = append(msgs, e.Message) }))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.StateRunning || !strings.Contains(st.LastError, "could not be restored") || host.drv.restores != 2 {
		t.Errorf("after a damaged snapshot: %+v restores=%d", st, host.drv.restores)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "booting it from its disks") {
		t.Errorf("no progress message about the cold boot: %q", msgs)
	}
	if _, clocks := host.drv.agent.counts(); clocks != 2 {
		t.Errorf("clock set %d times after two resumes and a cold boot, want 2", clocks)
	}

	// Stop of a suspended VM discards the snapshot.
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := td.StopVM(ctx, "calm-otter", api.StopRequest{TimeoutSeconds: 1}, nil); err != nil || v.State != api.StateStopped {
		t.Fatalf("stop of a suspended vm: %v %+v", err, v)
	}
	if _, err := os.Stat(dir.SnapshotMemory()); !os.IsNotExist(err) {
		t.Errorf("snapshot kept after stop: %v", err)
	}
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err == nil || !strings.Contains(err.Error(), "only a running vm") {
		t.Errorf("suspend of a stopped vm: %v", err)
	}
}

func TestSuspendRefusals(t *testing.T) {
	host := newFakeHost()
	td := newTestDaemon(t, host, t.TempDir())
	defer td.Close()
	ctx := context.Background()
	vm := td.create(t, "calm-otter")
	defer td.DeleteVM(ctx, "calm-otter", true)

	// No agent answers: the guest cannot flush, so nothing is saved.
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err == nil || !strings.Contains(err.Error(), "flush guest filesystems") {
		t.Fatalf("suspend without an agent: %v", err)
	}
	if v, _ := td.GetVM(ctx, "calm-otter"); v.State != api.StateRunning || !(vmm.Process{PID: v.PID}).Alive() {
		t.Fatalf("a refused suspend changed the vm: %+v", v)
	}

	// Too little disk: refused before anything happens.
	host.drv.agent = &fakeAgent{}
	free := freeSpace
	freeSpace = func(string) (uint64, error) { return 100 << 20, nil }
	defer func() { freeSpace = free }()
	if _, err := td.SuspendVM(ctx, "calm-otter", nil); err == nil || !strings.Contains(err.Error(), "MiB free") {
		t.Fatalf("suspend without disk space: %v", err)
	}
	if syncs, _ := host.drv.agent.counts(); syncs != 0 || host.drv.suspends != 0 {
		t.Errorf("a suspend refused for disk space synced %d times, saved %d times", syncs, host.drv.suspends)
	}
	if _, err := os.Stat(td.layout.VM(vm.ID).SnapshotMemory()); !os.IsNotExist(err) {
		t.Errorf("snapshot file after a refused suspend: %v", err)
	}
}
