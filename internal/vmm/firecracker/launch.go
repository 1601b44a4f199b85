package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
)

// launch is one Start in progress: the spawned child and everything that
// must be undone if the boot fails.
type launch struct {
	spec      vmm.Spec
	apiSock   string
	logPath   string
	logOffset int64 // size of the log before this launch; the tail starts here
	child     *execx.Child
}

func (d *Driver) launch(ctx context.Context, bin string, spec vmm.Spec) (_ vmm.Process, err error) {
	dir := paths.VMDir(spec.Dir)
	l := &launch{spec: spec, apiSock: dir.APISocket(), logPath: spec.LogPath}
	if l.logPath == "" {
		l.logPath = dir.VMMLog("firecracker")
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("start firecracker vm %s: %s: %w%s", spec.Name, step, err, l.logHint())
	}

	if vmm.Dialable(l.apiSock) {
		return vmm.Process{}, fail("check api socket", fmt.Errorf("a process already serves %s", l.apiSock))
	}
	for _, s := range []string{l.apiSock, spec.AgentSocket} {
		if err := vmm.RemoveStaleSocket(s); err != nil {
			return vmm.Process{}, fail("remove stale socket", err)
		}
	}
	if st, err := os.Stat(l.logPath); err == nil {
		l.logOffset = st.Size()
	}

	argv := []string{bin, "--api-sock", l.apiSock, "--id", spec.ID}
	child, err := execx.Detached{Argv: argv, Dir: spec.Dir, LogPath: l.logPath}.Start()
	if err != nil {
		return vmm.Process{}, fail("launch", err)
	}
	l.child = child
	defer func() {
		if err != nil {
			l.abort()
		}
	}()
	d.log.Debug("firecracker launched", "vm", spec.Name, "pid", child.PID, "argv", argv)

	if spec.PIDFile != "" {
		if err := writePIDFile(spec.PIDFile, child.PID); err != nil {
			return vmm.Process{}, fail("write pid file", err)
		}
	}
	if err := l.waitAPISocket(ctx, d.startTimeout); err != nil {
		return vmm.Process{}, fail("wait for api socket", err)
	}
	c := NewClient(l.apiSock)
	for _, st := range configSteps(spec) {
		if err := st.run(ctx, c); err != nil {
			return vmm.Process{}, fail(st.name, err)
		}
	}
	info, err := c.DescribeInstance(ctx)
	if err != nil {
		return vmm.Process{}, fail("check instance state", err)
	}
	if info.State != StateRunning {
		return vmm.Process{}, fail("check instance state", fmt.Errorf("state is %q after InstanceStart, want %q", info.State, StateRunning))
	}
	p, err := vmm.Identify(child.PID)
	if err != nil {
		return vmm.Process{}, fail("identify process", err)
	}
	d.log.Info("firecracker started", "vm", spec.Name, "pid", p.PID, "api_socket", l.apiSock, "log", l.logPath)
	return p, nil
}

// step is one configuration call, named for errors.
type step struct {
	name string
	run  func(context.Context, *Client) error
}

// configSteps lists the API calls that boot spec, in order. Every drive is
// attached with is_root_device=false: the guest boots from the initrd,
// whose init finds disks by ext4 label, so Firecracker must not add its own
// root= to the command line.
func configSteps(spec vmm.Spec) []step {
	steps := []step{
		{"configure machine", func(ctx context.Context, c *Client) error {
			return c.PutMachineConfig(ctx, MachineConfiguration{VCPUCount: spec.VCPUs, MemSizeMiB: spec.MemoryMiB, SMT: false})
		}},
		{"set boot source", func(ctx context.Context, c *Client) error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: spec.Kernel, InitrdPath: spec.Initrd, BootArgs: spec.BootArgs})
		}},
	}
	for _, disk := range spec.Disks {
		steps = append(steps, step{"attach drive " + disk.ID, func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: disk.ID, PathOnHost: disk.Path, IsRootDevice: false, IsReadOnly: disk.ReadOnly})
		}})
	}
	if spec.TAP != "" {
		steps = append(steps, step{"attach network " + spec.TAP, func(ctx context.Context, c *Client) error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth0", HostDevName: spec.TAP, GuestMAC: spec.MAC})
		}})
	}
	if spec.AgentSocket != "" {
		steps = append(steps, step{"attach vsock", func(ctx context.Context, c *Client) error {
			return c.PutVsock(ctx, Vsock{GuestCID: guestCID, UDSPath: spec.AgentSocket})
		}})
	}
	return append(steps, step{"start instance", func(ctx context.Context, c *Client) error {
		return c.Action(ctx, ActionInstanceStart)
	}})
}

// waitAPISocket polls until the API socket accepts connections, failing
// fast when the process exits first.
func (l *launch) waitAPISocket(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if vmm.Dialable(l.apiSock) {
			return nil
		}
		select {
		case <-l.child.Done():
			how := "exit status 0"
			if err := l.child.Err(); err != nil {
				how = errors.Unwrap(err).Error()
			}
			return fmt.Errorf("firecracker exited (%s) before serving %s", how, l.apiSock)
		case <-deadline.C:
			return fmt.Errorf("%s did not appear within %s", l.apiSock, timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// abort kills the child and removes what it and Start created.
func (l *launch) abort() {
	_ = l.child.Kill()
	select {
	case <-l.child.Done():
	case <-time.After(5 * time.Second):
	}
	for _, p := range []string{l.apiSock, l.spec.AgentSocket, l.spec.PIDFile} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
}

// logHint names the log and quotes the end of what this launch wrote to
// it; before the launch there is nothing of ours to quote.
func (l *launch) logHint() string {
	if l.child == nil {
		return ""
	}
	tail := vmm.LogTail(l.logPath, l.logOffset, 8)
	if tail == "" {
		return " (log: " + l.logPath + ")"
	}
	return fmt.Sprintf(" (log %s ends: %s)", l.logPath, tail)
}

func writePIDFile(path string, pid int) error {
	return atomicfile.Write(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}
