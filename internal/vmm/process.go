package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessStartTime reads the start time (clock ticks since boot) of pid from
// /proc, used with the pid to identify a process.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// remaining fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: short", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Identify returns the Process for a live pid.
func Identify(pid int) (Process, error) {
	st, err := ProcessStartTime(pid)
	if err != nil {
		return Process{}, err
	}
	return Process{PID: pid, StartTime: st}, nil
}

// Alive reports whether p still runs (same pid, same start time, not a zombie).
func (p Process) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return false
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	return err == nil && (p.StartTime == 0 || st == p.StartTime)
}

// Signal sends sig to p if it is still the same process.
func (p Process) Signal(sig syscall.Signal) error {
	if !p.Alive() {
		return ErrNotRunning
	}
	return syscall.Kill(p.PID, sig)
}

// WaitExit polls until p exits or ctx ends. VMM processes are not our
// children after a bangerd restart, so waitpid is not available.
func (p Process) WaitExit(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for p.Alive() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for vmm pid %d to exit: %w", p.PID, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Terminate stops p: SIGTERM, then SIGKILL after grace. It returns once the
// process is gone.
func (p Process) Terminate(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if p.WaitExit(wctx) == nil {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return p.WaitExit(ctx)
}
