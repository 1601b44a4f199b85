package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/paths"
	"banger/internal/vmm"
)

// pausedQemu starts a microvm held before its first instruction (-S, no kernel),
// with QMP on sock, plus extra arguments. It is a real qemu for the
// migration plumbing, without a guest taking CPU.
func pausedQemu(t *testing.T, sock string, extra ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath(DefaultBinary)
	if err != nil {
		t.Skip("needs " + DefaultBinary)
	}
	args := append([]string{"-M", "microvm", "-accel", "tcg", "-m", "128", "-nodefaults", "-no-user-config", "-nographic", "-S",
		"-chardev", "socket,id=qmp,path=" + sock + ",server=on,wait=off", "-mon", "chardev=qmp,mode=control"}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestSnapshotStreamRoundTrip saves a paused qemu's state through a
// descriptor passed over QMP and loads it into a second qemu started with
// "-incoming defer", as Suspend and Restore do.
func TestSnapshotStreamRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := filepath.Join(dir, "src.sock")
	exited := make(chan struct{})
	pausedQemu(t, src)
	var c *qmpConn
	for {
		var err error
		if c, err = dialQMP(ctx, src); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Run state "running" then "paused", as a live guest being suspended
	// (the firmware finds no kernel and halts).
	for _, cmd := range []string{"cont", "stop"} {
		if err := c.execute(ctx, cmd, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem := filepath.Join(dir, "snapshot.mem")
	f, err := os.Create(mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.sendFD(ctx, snapshotFDName, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := c.execute(ctx, "migrate", map[string]any{"uri": "fd:" + snapshotFDName}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitMigration(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st, err := os.Stat(mem)
	if err != nil || st.Size() == 0 || st.Size() > 128<<20 {
		t.Fatalf("stream file: %v, %d bytes", err, st.Size())
	}
	t.Logf("stream of an idle 128 MiB machine: %d KiB", st.Size()>>10)

	dst := filepath.Join(dir, "dst.sock")
	pausedQemu(t, dst, "-incoming", "defer")
	in, err := os.Open(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := loadIncoming(ctx, dst, in, exited); err != nil {
		t.Fatal(err)
	}
	// The source was paused when saved; qemu restores that state, which
	// is why Restore continues the guest.
	st2, err := waitLoaded(ctx, dst, exited)
	if err != nil || st2.Status != "paused" {
		t.Fatalf("status after load: %+v %v", st2, err)
	}

	// A damaged stream: the loading qemu exits.
	bad := filepath.Join(dir, "bad.mem")
	os.WriteFile(bad, []byte("QEVM garbage that is not a stream"), 0o600)
	badSock := filepath.Join(dir, "bad.sock")
	cmd := pausedQemu(t, badSock, "-incoming", "defer")
	go func() { cmd.Process.Wait(); close(exited) }()
	bf, _ := os.Open(bad)
	defer bf.Close()
	err = loadIncoming(ctx, badSock, bf, nil)
	if err == nil {
		select {
		case <-exited:
		case <-ctx.Done():
			t.Fatal("qemu kept running on a damaged stream")
		}
	} else if !strings.Contains(err.Error(), "qmp") {
		t.Fatalf("load of a damaged stream: %v", err)
	}
}

// TestSuspendOnRealQemu runs Driver.Suspend against a qemu whose firmware
// found no kernel: a failed save leaves it running, a good one writes the
// stream and ends the process.
func TestSuspendOnRealQemu(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := vmm.Spec{ID: "0123abcd", Name: "calm-otter", Dir: dir}
	sock := paths.VMDir(dir).APISocket()
	cmd := pausedQemu(t, sock)
	for !vmm.Dialable(sock) {
		if ctx.Err() != nil {
			t.Fatal("qmp socket never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := dialQMP(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	c.execute(ctx, "cont", nil, nil)
	c.Close()
	p, err := vmm.Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{})

	bad := vmm.Snapshot{Memory: filepath.Join(dir, "missing", "snapshot.mem")}
	if err := d.Suspend(ctx, spec, p, bad); err == nil || !strings.Contains(err.Error(), "create snapshot file") {
		t.Fatalf("suspend into a missing directory: %v", err)
	}
	if st, err := queryStatusOnce(ctx, sock); err != nil || st.Status != "running" || !p.Alive() {
		t.Fatalf("after a failed suspend: %+v %v alive=%v; want the guest running again", st, err, p.Alive())
	}

	snap := vmm.Snapshot{Memory: paths.VMDir(dir).SnapshotMemory()}
	if err := d.Suspend(ctx, spec, p, snap); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Error("qemu alive after suspend")
	}
	if st, err := os.Stat(snap.Memory); err != nil || st.Size() == 0 {
		t.Errorf("snapshot: %v", err)
	}
	if _, err := os.Stat(snap.Memory + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}
	if err := d.Suspend(ctx, spec, p, snap); err != vmm.ErrNotRunning {
		t.Errorf("suspend of an ended qemu: %v", err)
	}
}
