package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/paths"
	"banger/internal/store"
	"banger/internal/vmm"
)

// bootArgs is the guest kernel command line. reboot=k makes a guest reboot
// end the VMM process, which is how a clean stop finishes; panic=-1 reboots
// (and so exits) at once on a panic instead of hanging.
const bootArgs = "console=ttyS0 reboot=k panic=-1 quiet loglevel=3 systemd.show_status=false i8042.noaux i8042.nomux i8042.nopnp"

// kernelArgs is bootArgs plus BANGER_KERNEL_ARGS, a debugging aid (for
// example "loglevel=7 systemd.show_status=true" to see a boot on the
// console log).
func kernelArgs() string {
	if extra := strings.TrimSpace(os.Getenv("BANGER_KERNEL_ARGS")); extra != "" {
		return bootArgs + " " + extra
	}
	return bootArgs
}

// progressf reports one step of a long operation.
func progressf(p api.Progress, vm, step, format string, args ...any) {
	if p != nil {
		p.Report(api.Event{Type: api.EventProgress, VM: vm, Step: step, Message: fmt.Sprintf(format, args...)})
	}
}

func (d *Daemon) vmSpec(v *store.VM) vmm.Spec {
	dir := d.layout.VM(v.ID)
	return vmm.Spec{
		ID: v.ID, Name: v.Name, Dir: dir.String(), Kernel: v.Kernel, Initrd: v.Initrd, BootArgs: kernelArgs(),
		VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB,
		Disks: []vmm.Disk{
			{ID: "rootfs", Path: v.Rootfs, ReadOnly: true},
			{ID: "overlay", Path: dir.Overlay()},
			{ID: "work", Path: dir.WorkDisk()},
		},
		TAP: v.TAP, MAC: v.MAC, AgentSocket: dir.VsockSocket(), LogPath: dir.VMMLog(v.VMM),
		ConsolePath: dir.Console(), PIDFile: dir.PIDFile(),
	}
}

// attach (re)connects the driver's host-side helpers for a running VM.
func (d *Daemon) attach(ctx context.Context, v *store.VM, drv vmm.Driver) error {
	a, err := drv.Attach(ctx, d.vmSpec(v), vmm.Process{PID: v.PID, StartTime: v.PIDStart})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", drv.Name(), err)
	}
	if err := restrictVMDir(d.vmDir(v.ID)); err != nil {
		a.Close()
		return err
	}
	d.attachMu.Lock()
	if old, ok := d.attached[v.ID]; ok {
		old.Close()
	}
	d.attached[v.ID] = a
	d.attachMu.Unlock()
	return nil
}

func (d *Daemon) detach(id string) {
	d.attachMu.Lock()
	defer d.attachMu.Unlock()
	if a, ok := d.attached[id]; ok {
		a.Close()
		delete(d.attached, id)
	}
}

// sshTimeout is how long create/start wait for the guest's sshd.
func sshTimeout(accel string) time.Duration {
	if v := os.Getenv("BANGER_SSH_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	if accel == "tcg" {
		return 180 * time.Second
	}
	return 60 * time.Second
}

// waitSSH waits until the guest's sshd sends its banner, failing early if
// the VMM exits.
func (d *Daemon) waitSSH(ctx context.Context, v *store.VM, p api.Progress) error {
	progressf(p, v.Name, "ssh", "waiting for ssh on %s:22", v.IP)
	timeout := sshTimeout(v.Accel)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	proc := vmm.Process{PID: v.PID, StartTime: v.PIDStart}
	addr := net.JoinHostPort(v.IP.String(), "22")
	ready := d.opts.SSHReady
	if ready == nil {
		ready = sshBanner
	}
	vmmLog := d.layout.VM(v.ID).VMMLog(v.VMM)
	logFrom := d.bootLogOffset(v.ID)
	for {
		if ready(ctx, addr) {
			return nil
		}
		if !proc.Alive() {
			return fmt.Errorf("the %s process exited before ssh answered: %s", v.VMM, d.logTail(v))
		}
		// A VMM that cannot use its TAP keeps running with a guest that
		// will never answer: fail now rather than after the timeout. The
		// TAP is deleted with the rest of the failed start.
		if line := vmm.NetworkFailure(vmm.LogTail(vmmLog, logFrom, 50)); line != "" {
			return fmt.Errorf("the %s process cannot use tap %s (%q): %s", v.VMM, v.TAP, line, d.logTail(v))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("guest did not answer ssh on %s within %s: %s", addr, timeout, d.logTail(v))
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sshBanner(ctx context.Context, addr string) bool {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var dl net.Dialer
	c, err := dl.DialContext(dctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	return sendsSSHBanner(c)
}

// sendsSSHBanner reports whether the first line from r is an SSH
// identification line, reading at most maxSSHBannerLine bytes.
func sendsSSHBanner(r io.Reader) bool {
	line, err := readLine(r, maxSSHBannerLine)
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// logTail names the VM's logs and quotes the last console lines.
func (d *Daemon) logTail(v *store.VM) string {
	dir := d.layout.VM(v.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "see %s and %s", dir.Console(), dir.VMMLog(v.VMM))
	for _, f := range []string{dir.Console(), dir.VMMLog(v.VMM)} {
		if tail := vmm.LogTail(f, 0, 5); tail != "" {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", f, tail)
		}
	}
	return b.String()
}

// vmDir is a VM's directory.
func (d *Daemon) vmDir(id string) paths.VMDir { return d.layout.VM(id) }

// markBootLog remembers where a VM's VMM log ends before its VMM starts, so
// the boot's own lines can be told from earlier boots' (the log appends).
func (d *Daemon) markBootLog(id, log string) {
	var size int64
	if st, err := os.Stat(log); err == nil {
		size = st.Size()
	}
	d.bootLogMu.Lock()
	d.bootLog[id] = size
	d.bootLogMu.Unlock()
}

func (d *Daemon) bootLogOffset(id string) int64 {
	d.bootLogMu.Lock()
	defer d.bootLogMu.Unlock()
	return d.bootLog[id]
}
