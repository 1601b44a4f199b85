package execx

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Detached is a long-running command that must outlive its parent: a VMM
// that keeps running when bangerd stops. It runs in its own session (no
// controlling terminal, no signals from the parent's process group), reads
// /dev/null, and appends stdout and stderr to one log file. It is not tied
// to a context: nothing kills it when the caller's request ends.
type Detached struct {
	Argv []string
	Env  []string // extra KEY=VALUE entries on top of the current environment
	Dir  string
	// LogPath receives stdout and stderr, appended (created 0644 if absent).
	LogPath string
	// Output, when set, receives stdout and stderr instead of LogPath: the
	// write end of a log pipe (internal/vmm/bootlog), or /dev/null.
	Output *os.File
	// ExtraFiles become the child's descriptors 3, 4, ... in order.
	ExtraFiles []*os.File
}

// Child is a started Detached command. While the parent lives, a goroutine
// waits for the child so that it never lingers as a zombie; Done reports its
// exit. After a parent restart the child is reparented and Child is gone;
// callers identify it by pid then.
type Child struct {
	PID  int
	argv []string
	proc *os.Process
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// Start launches the command and returns once it is running.
func (d Detached) Start() (*Child, error) {
	if len(d.Argv) == 0 {
		return nil, errors.New("execx: empty argv")
	}
	log := d.Output
	if log == nil {
		if d.LogPath == "" {
			return nil, fmt.Errorf("%s: no log path", strings.Join(d.Argv, " "))
		}
		f, err := os.OpenFile(d.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log for %s: %w", d.Argv[0], err)
		}
		// The child holds its own descriptor; ours is only needed until Start.
		defer f.Close()
		log = f
	}

	cmd := exec.Command(d.Argv[0], d.Argv[1:]...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), d.Env...)
	cmd.Dir = d.Dir
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.ExtraFiles = d.ExtraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, &Error{Argv: d.Argv, ExitCode: -1, Err: err}
	}
	c := &Child{PID: cmd.Process.Pid, argv: d.Argv, proc: cmd.Process, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		if err != nil {
			code := -1
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			}
			c.err = &Error{Argv: d.Argv, ExitCode: code, Err: err}
		}
		c.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// Done is closed once the child has exited and been reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is the child's exit error (nil for exit status 0). Valid after Done.
func (c *Child) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Kill sends SIGKILL to the child unless it has already exited. It goes
// through os.Process (a pidfd where the kernel has them), so a reaped child's
// recycled pid is never signalled.
func (c *Child) Kill() error {
	if err := c.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", c.argv[0], c.PID, err)
	}
	return nil
}
