package bootlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/execx"
	"banger/internal/vmm"
)

// Pump says how a driver runs the log pump.
type Pump struct {
	// Argv runs Main: bangerd's own executable and Subcommand.
	Argv []string
	// MaxBytes caps each stream of each boot; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// pipeSize is the buffer asked for each log pipe; unprivileged users may
// go up to /proc/sys/fs/pipe-max-size (1 MiB by default).
const pipeSize = 256 << 10

// Pipes is the log plumbing of one VMM launch: one pipe per output file.
// Use: Open, give VMMFiles to the VMM, Start the pump once the VMM runs,
// and Close on every path (it is a no-op for what Start handed over).
type Pipes struct {
	pump  Pump
	paths []string
	r, w  []*os.File
	child *execx.Child
}

// Open creates one pipe per output path.
func (p Pump) Open(paths ...string) (*Pipes, error) {
	if len(p.Argv) == 0 {
		return nil, errors.New("no log pump configured")
	}
	s := &Pipes{pump: p, paths: paths}
	for _, path := range paths {
		if path == "" {
			s.Close()
			return nil, errors.New("empty log path")
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log pipe for %s: %w", path, err)
		}
		// A full pipe makes the VMM's console write wait for the pump (the
		// guest's vCPU stalls meanwhile); a larger buffer absorbs a burst
		// while the pump is not scheduled on a busy host. Best effort: the
		// default 64 KiB works too.
		_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
		s.r, s.w = append(s.r, r), append(s.w, w)
	}
	return s, nil
}

// VMMFiles are the write ends, in path order, for the VMM's descriptors.
func (s *Pipes) VMMFiles() []*os.File { return s.w }

// Start drops this process's write ends (the VMM holds its own, so the
// pump sees EOF exactly when the VMM exits) and starts the pump detached on
// the read ends. With endOnPowerDown set, the pump ends that process when
// the guest prints the kernel's power-off line (see Main).
func (s *Pipes) Start(endOnPowerDown *vmm.Process) error {
	closeAll(s.w)
	s.w = nil
	argv := append(append([]string(nil), s.pump.Argv...), "--max-bytes", strconv.FormatInt(s.maxBytes(), 10))
	if p := endOnPowerDown; p != nil {
		argv = append(argv, "--end-on-power-down", strconv.Itoa(p.PID)+":"+strconv.FormatUint(p.StartTime, 10))
	}
	argv = append(argv, s.paths...)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("start log pump: %w", err)
	}
	defer null.Close()
	child, err := execx.Detached{Argv: argv, Output: null, ExtraFiles: s.r}.Start()
	closeAll(s.r)
	s.r = nil
	if err != nil {
		return fmt.Errorf("start log pump: %w", err)
	}
	s.child = child
	return nil
}

func (s *Pipes) maxBytes() int64 {
	if s.pump.MaxBytes > 0 {
		return s.pump.MaxBytes
	}
	return DefaultMaxBytes
}

// Close releases the descriptors Start did not hand over.
func (s *Pipes) Close() {
	closeAll(s.r)
	closeAll(s.w)
	s.r, s.w = nil, nil
}

// Drain waits (at most timeout) for the pump to write everything the VMM
// wrote and exit; call it after the VMM has exited, before quoting a log.
func (s *Pipes) Drain(timeout time.Duration) {
	if s.child == nil {
		return
	}
	select {
	case <-s.child.Done():
	case <-time.After(timeout):
	}
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
