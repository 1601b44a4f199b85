package firecracker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
)

// launch is one Start in progress: the spawned child and everything that
// must be undone if the boot fails.
type launch struct {
	spec    vmm.Spec
	apiSock string
	child   *execx.Child
	pipes   *bootlog.Pipes
	abortMu sync.Once
}

// launch runs firecracker and configures it with steps: configSteps for
// a boot, restoreSteps to load a snapshot.
func (d *Driver) launch(ctx context.Context, bin string, spec vmm.Spec, steps []step) (_ vmm.Process, err error) {
	dir := paths.VMDir(spec.Dir)
	l := &launch{spec: spec, apiSock: dir.APISocket()}
	fail := func(step string, err error) error {
		// Abort first: the hint quotes the log, which is complete only
		// once the process is gone and the pump has drained the pipe.
		l.abort()
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
	// Firecracker's stdout and stderr carry its log and the guest's serial
	// console; both go through the capped log pump into this boot's file.
	pipes, err := d.pump.Open(spec.LogPath)
	if err != nil {
		return vmm.Process{}, fail("open log pipe", err)
	}
	l.pipes = pipes
	defer pipes.Close()

	argv := []string{bin, "--api-sock", l.apiSock, "--id", spec.ID}
	child, err := execx.Detached{Argv: argv, Dir: spec.Dir, Output: pipes.VMMFiles()[0]}.Start()
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

	// The pump ends this very process (pid and start time) when the guest
	// powers off: on x86 Firecracker keeps running after a guest poweroff
	// (its ACPI tables have no _S5), and the VM would show as running
	// with a dead guest. A process that already died needs no watching;
	// its output still gets drained for the error message.
	var watch *vmm.Process
	if p, err := vmm.Identify(child.PID); err == nil {
		watch = &p
	}
	if err := pipes.Start(watch); err != nil {
		return vmm.Process{}, fail("start log pump", err)
	}

	if spec.PIDFile != "" {
		if err := writePIDFile(spec.PIDFile, child.PID); err != nil {
			return vmm.Process{}, fail("write pid file", err)
		}
	}
	if err := l.waitAPISocket(ctx, d.startTimeout); err != nil {
		return vmm.Process{}, fail("wait for api socket", err)
	}
	c := NewClient(l.apiSock)
	info, err := c.DescribeInstance(ctx)
	if err != nil {
		return vmm.Process{}, fail("check firecracker version", err)
	}
	if _, err := checkVersion(info.VMMVersion, "GET / vmm_version"); err != nil {
		return vmm.Process{}, fail("check firecracker version", err)
	}
	for _, st := range steps {
		if err := st.run(ctx, c); err != nil {
			return vmm.Process{}, fail(st.name, err)
		}
	}
	info, err = c.DescribeInstance(ctx)
	if err != nil {
		return vmm.Process{}, fail("check instance state", err)
	}
	if info.State != StateRunning {
		return vmm.Process{}, fail("check instance state", fmt.Errorf("state is %q after %s, want %q", info.State, steps[len(steps)-1].name, StateRunning))
	}
	if watch == nil {
		return vmm.Process{}, fail("identify process", fmt.Errorf("pid %d vanished", child.PID))
	}
	d.log.Info("firecracker started", "vm", spec.Name, "pid", watch.PID, "api_socket", l.apiSock, "log", spec.LogPath, "version", info.VMMVersion)
	return *watch, nil
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
			drv := Drive{DriveID: disk.ID, PathOnHost: disk.Path, IsRootDevice: false, IsReadOnly: disk.ReadOnly}
			if !disk.ReadOnly {
				drv.CacheType = CacheWriteback
			}
			return c.PutDrive(ctx, drv)
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

// abort kills the child, waits for the log pump to drain what it wrote,
// and removes what it and Start created. It runs once.
func (l *launch) abort() {
	l.abortMu.Do(func() { bootlog.AbortStart(l.child, l.pipes, l.apiSock, l.spec.AgentSocket, l.spec.PIDFile) })
}

// logHint names this boot's log and quotes its end; before the launch
// there is nothing of ours to quote.
func (l *launch) logHint() string {
	if l.child == nil {
		return ""
	}
	return vmm.LogHint(l.spec.LogPath)
}

func writePIDFile(path string, pid int) error {
	return atomicfile.Write(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}
