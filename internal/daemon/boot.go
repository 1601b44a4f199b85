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
	"banger/internal/vmm/bootlog"
)

// bootArgs is the guest kernel command line. reboot=k makes a guest reboot
// end the VMM process, which is how a clean stop finishes; panic=-1 reboots
// (and so exits) at once on a panic instead of hanging. loglevel=3 still
// lets the kernel's emergency-level "reboot: Power down" reach the
// console, which is how a guest poweroff ends Firecracker.
const bootArgs = "console=ttyS0 reboot=k panic=-1 quiet loglevel=3 systemd.show_status=false i8042.noaux i8042.nomux"

// kernelArgs is bootArgs for the VMM vmmName plus BANGER_KERNEL_ARGS, a
// debugging aid (for example "loglevel=7 systemd.show_status=true" to see
// a boot on the console log).
//
// i8042.nopnp is for qemu only. Firecracker 1.8 and newer describe their
// i8042 only through ACPI (PNP0303): with nopnp the guest binds no keyboard
// controller and ignores SendCtrlAltDel, so `vm stop` would wait out its
// whole timeout (Firecracker CHANGELOG 1.12.0 dropped the flag from its own
// tests for this reason). qemu's microvm has no i8042 to find.
func kernelArgs(vmmName string) string {
	args := bootArgs
	if vmmName != "firecracker" {
		args += " i8042.nopnp"
	}
	if extra := strings.TrimSpace(os.Getenv("BANGER_KERNEL_ARGS")); extra != "" {
		args += " " + extra
	}
	return args
}

// progressf reports one step of a long operation.
func progressf(p api.Progress, vm, step, format string, args ...any) {
	if p != nil {
		p.Report(api.Event{Type: api.EventProgress, VM: vm, Step: step, Message: fmt.Sprintf(format, args...)})
	}
}

// vmSpec is v's VMM spec; its log paths are those of the current boot
// (bootSpec starts a new one).
func (d *Daemon) vmSpec(v *store.VM) vmm.Spec {
	dir := d.layout.VM(v.ID)
	return VMSpec(v, dir, bootlog.Current(dir))
}

// VMSpec is the VMM spec of v, whose files are in dir, for boot number
// boot: the kernel command line, the disks in the order the guest expects
// (read-only rootfs, overlay, work) and the boot's log files. It is the one
// place a VM's machine is described (the bundle boot test uses it too).
func VMSpec(v *store.VM, dir paths.VMDir, boot int) vmm.Spec {
	return vmm.Spec{
		ID: v.ID, Name: v.Name, Dir: dir.String(), Kernel: v.Kernel, Initrd: v.Initrd, BootArgs: kernelArgs(v.VMM),
		VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB,
		Disks: []vmm.Disk{
			{ID: "rootfs", Path: v.Rootfs, ReadOnly: true},
			{ID: "overlay", Path: dir.Overlay()},
			{ID: "work", Path: dir.WorkDisk()},
		},
		TAP: v.TAP, MAC: v.MAC, AgentSocket: dir.VsockSocket(), LogPath: dir.BootLog(v.VMM, boot),
		ConsolePath: dir.BootLog(bootlog.Console, boot), PIDFile: dir.PIDFile(),
	}
}

// bootSpec is v's VMM spec for a new boot: it numbers the boot, drops the
// logs of boots older than bootlog.Keep, and points the spec's logs at
// this boot's files.
func (d *Daemon) bootSpec(v *store.VM) (vmm.Spec, error) {
	dir := d.layout.VM(v.ID)
	boot, err := bootlog.Begin(dir)
	if err != nil {
		return vmm.Spec{}, err
	}
	return VMSpec(v, dir, boot), nil
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
	dir := d.layout.VM(v.ID)
	vmmLog := dir.BootLog(v.VMM, bootlog.Current(dir)) // this boot's own file
	for {
		if ready(ctx, addr) {
			return nil
		}
		if !proc.Alive() {
			// The console is console.N.log under qemu and part of
			// firecracker.N.log under Firecracker.
			for _, f := range bootlog.Files(dir, v.VMM, bootlog.Current(dir)) {
				if line := kernelPanic(f); line != "" {
					return fmt.Errorf("the guest kernel panicked (%q): %s", line, d.logTail(v))
				}
			}
			return fmt.Errorf("the %s process exited before ssh answered: %s", v.VMM, d.logTail(v))
		}
		// A VMM that cannot use its TAP keeps running with a guest that
		// will never answer: fail now rather than after the timeout. The
		// TAP is deleted with the rest of the failed start.
		if line := vmm.NetworkFailure(vmm.LogTail(vmmLog, 0, 50)); line != "" {
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

// kernelPanic returns the guest kernel's panic message from the end of its
// console log, or "". The panic line is followed by a stack trace, so it is
// rarely among the last few lines a tail quotes.
func kernelPanic(console string) string {
	tail := vmm.LogTail(console, 0, 100)
	i := strings.LastIndex(tail, "Kernel panic - not syncing")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(tail[i:], " | ")
	return line
}

// logTail names the current boot's logs that exist for the VM's VMM (under
// Firecracker the console is inside firecracker.N.log; there is no console
// file) and quotes their last lines.
func (d *Daemon) logTail(v *store.VM) string {
	dir := d.layout.VM(v.ID)
	files := bootlog.Files(dir, v.VMM, bootlog.Current(dir))
	if len(files) == 0 {
		return "the vmm wrote no log in " + dir.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "see %s", strings.Join(files, " and "))
	for _, f := range files {
		if tail := vmm.LogTail(f, 0, 5); tail != "" {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", f, tail)
		}
	}
	return b.String()
}

// vmDir is a VM's directory.
func (d *Daemon) vmDir(id string) paths.VMDir { return d.layout.VM(id) }
