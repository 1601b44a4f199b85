package firecracker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/paths"
	"banger/internal/vmm"
)

func TestSuspendAndRestore(t *testing.T) {
	f := newVM(t, "")
	ctx := ctxT(t)
	p, err := f.drv.Start(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths.VMDir(f.spec.Dir)
	snap := vmm.Snapshot{Memory: dir.SnapshotMemory(), State: dir.SnapshotState()}
	if err := f.drv.Suspend(ctx, f.spec, p, snap); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Fatal("firecracker alive after suspend")
	}
	for _, fn := range []string{snap.Memory, snap.State} {
		if _, err := os.Stat(fn); err != nil {
			t.Fatalf("snapshot file: %v", err)
		}
	}
	log := f.readLog(f.spec.LogPath)
	pause := strings.Index(log, `PATCH request on "/vm" with body "{\"state\":\"Paused\"}"`)
	create := strings.Index(log, `PUT request on "/snapshot/create"`)
	if pause < 0 || create < pause {
		t.Fatalf("want PATCH /vm Paused before PUT /snapshot/create:\n%s", log)
	}
	if err := f.drv.Suspend(ctx, f.spec, p, snap); err != vmm.ErrNotRunning {
		t.Errorf("suspend of an ended process: %v", err)
	}

	// Restore onto another TAP, with the next boot's log.
	f.spec.TAP = "bgr-0999"
	f.spec.LogPath = dir.BootLog("firecracker", 2)
	p2, err := f.drv.Restore(ctx, f.spec, snap)
	if err != nil {
		t.Fatal(err)
	}
	info, err := NewClient(dir.APISocket()).DescribeInstance(ctx)
	if err != nil || info.State != StateRunning {
		t.Fatalf("after restore: %+v %v", info, err)
	}
	p2.Terminate(ctx, 2*time.Second)
	log = f.readLog(f.spec.LogPath)
	if !strings.Contains(log, `PUT request on "/snapshot/load"`) || !strings.Contains(log, `\"host_dev_name\":\"bgr-0999\"`) || !strings.Contains(log, `\"resume_vm\":true`) {
		t.Errorf("load request lacks the new tap or resume_vm:\n%s", log)
	}
	if strings.Contains(log, `"/machine-config"`) || strings.Contains(log, `"/boot-source"`) {
		t.Errorf("a restore configured the machine:\n%s", log)
	}

	// A damaged state file: Restore fails with Firecracker's fault and
	// leaves nothing running.
	os.WriteFile(snap.State, []byte("damaged"), 0o600)
	f.spec.LogPath = dir.BootLog("firecracker", 3)
	if _, err := f.drv.Restore(ctx, f.spec, snap); err == nil || !strings.Contains(err.Error(), "Cannot deserialize") {
		t.Fatalf("restore of a damaged snapshot: %v", err)
	}
	f.assertNothingLeft()
	os.Remove(snap.State)
	if _, err := f.drv.Restore(context.Background(), f.spec, snap); err == nil || !strings.Contains(err.Error(), filepath.Base(snap.State)) {
		t.Errorf("restore without a state file: %v", err)
	}
}
