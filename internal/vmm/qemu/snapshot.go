package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"banger/internal/paths"
	"banger/internal/vmm"
)

var _ vmm.Snapshotter = (*Driver)(nil)

// snapshotFDName is the name a snapshot file's descriptor gets in qemu
// (QMP getfd), used by the "fd:" migration URI.
const snapshotFDName = "banger-snapshot"

// Suspend stops the guest's vCPUs, writes qemu's migration stream (guest
// memory, with zero pages left out, and device state) into snap.Memory
// through a descriptor passed over QMP, and quits qemu. The stream is
// written to a temporary name and renamed once complete, so a snapshot
// file that exists is whole.
func (d *Driver) Suspend(ctx context.Context, spec vmm.Spec, p vmm.Process, snap vmm.Snapshot) (err error) {
	if !p.Alive() {
		return vmm.ErrNotRunning
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("suspend qemu vm %s: %s: %w", spec.Name, step, err)
	}
	// The QMP session lasts as long as the guest's memory takes to write.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	c, err := dialQMP(ctx, paths.VMDir(spec.Dir).APISocket())
	if err != nil {
		return fail("connect", err)
	}
	defer c.Close()
	if err := c.execute(ctx, "stop", nil, nil); err != nil {
		return fail("pause guest", err)
	}
	tmp := snap.Memory + ".partial"
	defer func() {
		if err != nil {
			os.Remove(tmp)
			if p.Alive() {
				if cerr := c.execute(context.WithoutCancel(ctx), "cont", nil, nil); cerr != nil {
					d.log.Warn("resume guest after a failed suspend", "vm", spec.Name, "error", cerr)
				}
			}
		}
	}()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail("create snapshot file", err)
	}
	err = c.sendFD(ctx, snapshotFDName, f)
	if err != nil {
		f.Close()
		return fail("pass snapshot file", err)
	}
	start := time.Now()
	if err := c.execute(ctx, "migrate", map[string]any{"uri": "fd:" + snapshotFDName}, nil); err != nil {
		f.Close()
		return fail("save guest", err)
	}
	if err := c.waitMigration(ctx); err != nil {
		f.Close()
		return fail("save guest", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail("sync snapshot file", err)
	}
	if err := f.Close(); err != nil {
		return fail("close snapshot file", err)
	}
	if err := os.Rename(tmp, snap.Memory); err != nil {
		return fail("rename snapshot file", err)
	}
	d.log.Info("qemu guest saved", "vm", spec.Name, "ms", time.Since(start).Milliseconds(), "file", snap.Memory)
	if err := c.quit(ctx); err != nil {
		return fail("quit qemu", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := p.WaitExit(wctx); err != nil {
		// The snapshot is whole: end the process rather than fail.
		if terr := p.Terminate(context.WithoutCancel(ctx), 3*time.Second); terr != nil {
			return fail("end qemu", terr)
		}
	}
	return nil
}

// Restore launches qemu with the command line of spec plus
// "-incoming defer", hands it snap.Memory over QMP and waits for the guest
// to run (qemu starts it itself once the stream is loaded). A stream that
// does not load makes qemu exit; Restore then fails with its log. Peers
// on the bridge learn where the guest is from announce-self's gratuitous
// ARPs.
func (d *Driver) Restore(ctx context.Context, spec vmm.Spec, snap vmm.Snapshot) (vmm.Process, error) {
	bin, err := resolveBinary(d.binary)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("restore qemu vm %s: %w", spec.Name, err)
	}
	f, err := os.Open(snap.Memory)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("restore qemu vm %s: %w", spec.Name, err)
	}
	defer f.Close()
	p, err := d.launch(ctx, bin, spec, f)
	if err != nil {
		return vmm.Process{}, err
	}
	c, err := dialQMP(ctx, paths.VMDir(spec.Dir).APISocket())
	if err == nil {
		err = c.execute(ctx, "announce-self", map[string]any{"initial": 50, "max": 550, "rounds": 3, "step": 100}, nil)
		c.Close()
	}
	if err != nil {
		d.log.Warn("announce restored guest", "vm", spec.Name, "error", err)
	}
	return p, nil
}

// startIncoming passes f to qemu started with "-incoming defer" and starts
// loading it. qemu's QMP socket may not exist yet when this runs.
func (l *launch) startIncoming(ctx context.Context, f *os.File, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := loadIncoming(ctx, l.cfg.QMPSocket, f, l.child.Done()); err != nil {
		return err
	}
	// The guest was paused when it was saved, and qemu restores that run
	// state: it has to be continued.
	st, err := waitLoaded(ctx, l.cfg.QMPSocket, l.child.Done())
	if err != nil {
		return err
	}
	if st.Status != "paused" {
		return nil
	}
	c, err := dialQMP(ctx, l.cfg.QMPSocket)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.execute(ctx, "cont", nil, nil)
}

// waitLoaded polls until qemu has finished loading a stream.
func waitLoaded(ctx context.Context, sock string, exited <-chan struct{}) (qmpStatus, error) {
	for {
		st, err := queryStatusOnce(ctx, sock)
		if err != nil {
			return st, err
		}
		if st.Status != "inmigrate" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("load snapshot: %w", ctx.Err())
		case <-exited:
			return st, errors.New("qemu exited while loading the snapshot")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// loadIncoming waits for the QMP socket at sock, passes f and starts
// "migrate-incoming" from it; exited closes if qemu ends first.
func loadIncoming(ctx context.Context, sock string, f *os.File, exited <-chan struct{}) error {
	for {
		c, err := dialQMP(ctx, sock)
		if err == nil {
			defer c.Close()
			if err := c.sendFD(ctx, snapshotFDName, f); err != nil {
				return err
			}
			return c.execute(ctx, "migrate-incoming", map[string]any{"uri": "fd:" + snapshotFDName}, nil)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("qmp socket: %w (last: %v)", ctx.Err(), err)
		case <-exited:
			return errors.New("qemu exited before it took the snapshot")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sendFD runs getfd, passing f's descriptor with the command
// (SCM_RIGHTS), under name.
func (c *qmpConn) sendFD(ctx context.Context, name string, f *os.File) error {
	uc, ok := c.conn.(*net.UnixConn)
	if !ok {
		return errors.New("qmp getfd: not a unix socket")
	}
	id, req := c.request("getfd", map[string]string{"fdname": name})
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp getfd: %w", err)
	}
	if _, _, err := uc.WriteMsgUnix(append(b, '\n'), syscall.UnixRights(int(f.Fd())), nil); err != nil {
		return fmt.Errorf("qmp getfd: %w", c.ctxErr(ctx, err))
	}
	return c.await(ctx, "getfd", id, nil)
}

// waitMigration polls query-migrate until the stream is complete.
func (c *qmpConn) waitMigration(ctx context.Context) error {
	for {
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := c.execute(ctx, "query-migrate", nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
