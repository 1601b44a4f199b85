package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
)

// launch is one Start in progress: the spawned child and everything that
// must be undone if the boot fails.
type launch struct {
	spec    vmm.Spec
	cfg     launchConfig
	child   *execx.Child
	pipes   *bootlog.Pipes
	abortMu sync.Once
}

// launch spawns qemu without -daemonize, so the pid is the child's own and
// no pidfile race exists; the child runs in its own session (execx.Detached)
// and is reaped by execx while bangerd lives, by init after that. qemu's
// output and the guest console go through the capped log pump
// (internal/vmm/bootlog) into this boot's files.
//
// With incoming set, qemu starts with "-incoming defer" and loads the guest
// from that snapshot file instead of booting it.
func (d *Driver) launch(ctx context.Context, bin string, spec vmm.Spec, incoming *os.File) (_ vmm.Process, err error) {
	l := &launch{spec: spec, cfg: d.launchConfig(spec)}
	// The console gets its own pipe (qemu's descriptor 3) when it has its
	// own file, else it shares qemu's stdout.
	outputs := []string{spec.LogPath}
	l.cfg.ConsoleFD = 1
	if spec.ConsolePath != "" {
		outputs = append(outputs, spec.ConsolePath)
		l.cfg.ConsoleFD = 3
	}
	fail := func(step string, err error) error {
		// Abort first: the hint quotes the log, which is complete only
		// once qemu is gone and the pump has drained the pipe.
		l.abort()
		return fmt.Errorf("start qemu vm %s: %s: %w%s", spec.Name, step, err, l.logHint())
	}

	if spec.LogPath == "" {
		return vmm.Process{}, fail("check log path", errors.New("no log path"))
	}
	args, err := buildArgs(spec, l.cfg)
	if err != nil {
		return vmm.Process{}, fail("build command line", err)
	}
	if incoming != nil {
		args = append(args, "-incoming", "defer")
	}
	for _, s := range []string{l.cfg.QMPSocket, l.cfg.SerialSocket, spec.AgentSocket} {
		if s == "" {
			continue
		}
		if err := paths.CheckSocketPath(s); err != nil {
			return vmm.Process{}, fail("check socket path", err)
		}
	}
	if vmm.Dialable(l.cfg.QMPSocket) {
		return vmm.Process{}, fail("check qmp socket", fmt.Errorf("a process already serves %s", l.cfg.QMPSocket))
	}
	for _, s := range []string{l.cfg.QMPSocket, l.cfg.SerialSocket} {
		if err := vmm.RemoveStaleSocket(s); err != nil {
			return vmm.Process{}, fail("remove stale socket", err)
		}
	}
	if spec.PIDFile != "" {
		if err := os.Remove(spec.PIDFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return vmm.Process{}, fail("remove stale pid file", err)
		}
	}
	pipes, err := d.pump.Open(outputs...)
	if err != nil {
		return vmm.Process{}, fail("open log pipes", err)
	}
	l.pipes = pipes
	defer pipes.Close()

	argv := append([]string{bin}, args...)
	w := pipes.VMMFiles()
	child, err := execx.Detached{Argv: argv, Dir: spec.Dir, Output: w[0], ExtraFiles: w[1:]}.Start()
	if err != nil {
		return vmm.Process{}, fail("launch", err)
	}
	l.child = child
	defer func() {
		if err != nil {
			l.abort()
		}
	}()
	d.log.Debug("qemu launched", "vm", spec.Name, "pid", child.PID, "argv", argv)
	// qemu ends itself on a guest poweroff (ACPI S5) or reboot
	// (-no-reboot): the pump needs no power-down watch.
	if err := pipes.Start(nil); err != nil {
		return vmm.Process{}, fail("start log pump", err)
	}

	if incoming != nil {
		if err := l.startIncoming(ctx, incoming, d.startTimeout); err != nil {
			return vmm.Process{}, fail("load snapshot", err)
		}
	}
	if err := l.waitRunning(ctx, d.startTimeout); err != nil {
		return vmm.Process{}, fail("wait for guest to run", err)
	}
	if spec.PIDFile != "" {
		if err := checkPIDFile(spec.PIDFile, child.PID); err != nil {
			return vmm.Process{}, fail("check pid file", err)
		}
	}
	p, err := vmm.Identify(child.PID)
	if err != nil {
		return vmm.Process{}, fail("identify process", err)
	}
	d.log.Info("qemu started", "vm", spec.Name, "pid", p.PID, "accel", d.accel, "qmp_socket", l.cfg.QMPSocket, "log", spec.LogPath)
	return p, nil
}

// launchConfig is what this driver decides about a boot of spec on this
// host, the console aside (launch routes it through the log pump).
func (d *Driver) launchConfig(spec vmm.Spec) launchConfig {
	dir := paths.VMDir(spec.Dir)
	cfg := launchConfig{Accel: d.accel, QMPSocket: dir.APISocket()}
	if spec.TAP != "" {
		cfg.VhostNet = deviceUsable("/dev/vhost-net")
	}
	if d.accel == "tcg" {
		cfg.TSCkHz = d.tscKHz()
	}
	if d.vhostVsock {
		cfg.VsockCID = guestCID(spec.ID)
	} else {
		cfg.SerialSocket = dir.SerialSocket()
	}
	return cfg
}

// Command is the command line Start runs for spec, qemu binary first,
// except that qemu writes the guest console to spec.ConsolePath itself
// instead of through the log pump. It is for a caller that supervises the
// VM on its own: the bundle boot test runs it inside a network namespace.
func (d *Driver) Command(spec vmm.Spec) ([]string, error) {
	bin, err := resolveBinary(d.binary)
	if err != nil {
		return nil, err
	}
	args, err := buildArgs(spec, d.launchConfig(spec))
	if err != nil {
		return nil, err
	}
	return append([]string{bin}, args...), nil
}

// waitRunning polls QMP until qemu reports the guest running, the process
// exits, or timeout passes.
func (l *launch) waitRunning(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	const poll = 50 * time.Millisecond
	var lastErr error
	for {
		select {
		case <-l.child.Done():
			if err := l.child.Err(); err != nil {
				return fmt.Errorf("qemu exited: %w", err)
			}
			return errors.New("qemu exited before the guest was reported running")
		default:
		}
		st, err := queryStatusOnce(ctx, l.cfg.QMPSocket)
		switch {
		case err == nil && st.Running:
			return nil
		case err == nil && (st.Status == "shutdown" || st.Status == "guest-panicked" || st.Status == "internal-error"):
			return fmt.Errorf("guest state is %q", st.Status)
		case err == nil:
			lastErr = fmt.Errorf("guest state is %q", st.Status)
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("qemu did not report the guest running: %w (last: %v)", ctx.Err(), lastErr)
		case <-l.child.Done():
		case <-time.After(poll):
		}
	}
}

func queryStatusOnce(ctx context.Context, sock string) (qmpStatus, error) {
	c, err := dialQMP(ctx, sock)
	if err != nil {
		return qmpStatus{}, err
	}
	defer c.Close()
	return c.queryStatus(ctx)
}

// abort kills the child, waits for the log pump to drain what it wrote,
// and removes what it and Start created. It runs once.
func (l *launch) abort() {
	l.abortMu.Do(func() { bootlog.AbortStart(l.child, l.pipes, l.cfg.QMPSocket, l.cfg.SerialSocket, l.spec.PIDFile) })
}

// logHint names this boot's log and quotes its end; before the launch
// there is nothing of ours to quote.
func (l *launch) logHint() string {
	if l.child == nil {
		return ""
	}
	return vmm.LogHint(l.spec.LogPath)
}

// checkPIDFile confirms that qemu wrote its pid where the lifecycle will
// look for it after a bangerd restart.
func checkPIDFile(path string, want int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	got, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("%s holds pid %d, want %d", path, got, want)
	}
	return nil
}

// deviceUsable reports whether the current user can open a character
// device read-write, which is what qemu will do with it.
func deviceUsable(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
