package bootlog

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/vmm"
)

// Subcommand is the hidden bangerd subcommand that runs Main.
const Subcommand = "logpump"

// Main is `bangerd logpump [--max-bytes N] [--end-on-power-down PID:START]
// PATH...`: it copies descriptor 3 into the first PATH, 4 into the second,
// and so on, and exits when all reach EOF. With --end-on-power-down, the
// guest kernel's power-off line on any input terminates the VMM process
// PID, and only if it still has kernel start time START: the pump holds a
// pidfd to it from the start, so a recycled pid is never signalled, and a
// guest that prints the line without powering off only ends its own VM,
// which it could do anyway. It returns the exit code.
func Main(args []string) int {
	fs := flag.NewFlagSet(Subcommand, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	maxBytes := fs.Int64("max-bytes", DefaultMaxBytes, "cap of each output file")
	endVMM := fs.String("end-on-power-down", "", "PID:STARTTIME of the VMM to end when the guest powers off")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "logpump: no output paths")
		return 2
	}
	// The pump runs in the VMM's session-less world: a stray SIGHUP or
	// SIGINT must not cut the log short while the VM runs.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)

	opts := Options{MaxBytes: *maxBytes}
	if *endVMM != "" {
		target, err := findVMM(*endVMM)
		if err != nil {
			// Keep logging: a pump that cannot watch must not also lose
			// the console. The failure is recorded in the first log.
			fmt.Fprintf(os.Stderr, "logpump: %v\n", err)
		} else {
			opts.OnPowerDown = target.end
		}
	}
	var outs []Output
	for i, p := range fs.Args() {
		f := os.NewFile(uintptr(3+i), "input-"+strconv.Itoa(i))
		if f == nil {
			fmt.Fprintf(os.Stderr, "logpump: no descriptor %d for %s\n", 3+i, p)
			return 2
		}
		outs = append(outs, Output{In: f, Path: p})
	}
	if err := Run(outs, opts); err != nil {
		fmt.Fprintf(os.Stderr, "logpump: %v\n", err)
		return 1
	}
	return 0
}

// vmmTarget is the one VMM process a pump may end.
type vmmTarget struct{ proc *os.Process }

// findVMM opens a pidfd-backed handle to "PID:START" and checks, after
// opening it, that the pid still has that start time: the handle then
// refers to that very process for the pump's whole life.
func findVMM(s string) (*vmmTarget, error) {
	pidS, startS, ok := strings.Cut(s, ":")
	pid, err1 := strconv.Atoi(pidS)
	start, err2 := strconv.ParseUint(startS, 10, 64)
	if !ok || err1 != nil || err2 != nil || pid <= 0 {
		return nil, fmt.Errorf("--end-on-power-down %q: want PID:STARTTIME", s)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("find vmm pid %d: %w", pid, err)
	}
	got, err := vmm.ProcessStartTime(pid)
	if err != nil || got != start {
		p.Release()
		return nil, fmt.Errorf("vmm pid %d is gone or is another process (start time %d, want %d)", pid, got, start)
	}
	return &vmmTarget{proc: p}, nil
}

// end stops the VMM after the guest powered off: SIGTERM (Firecracker
// exits on it), SIGKILL if it is still there after a grace period. The
// guest has already synced and unmounted its disks when it prints the
// power-off line, and Writeback drives have passed its flushes to the host.
func (t *vmmTarget) end() {
	if err := t.proc.Signal(syscall.SIGTERM); err != nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := t.proc.Signal(syscall.Signal(0)); err != nil {
			return // os.ErrProcessDone: gone
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = t.proc.Signal(syscall.SIGKILL)
}
