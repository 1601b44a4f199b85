// Package buildlog reports a build made of host commands (the runtime
// bundle build and `banger image build`): one line per step, with its wall
// time, on the terminal, and every command with its output in the build
// log. It runs commands only through execx and prints nothing but to the
// two writers it is given.
package buildlog

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"banger/internal/execx"
)

// maxLogged is the largest command output copied into the log.
const maxLogged = 4 << 20

// Reporter writes a build's progress and log.
type Reporter struct {
	progress io.Writer
	log      io.Writer
}

// New reports progress lines to progress and the full log to log; either
// may be nil (discarded).
func New(progress, log io.Writer) *Reporter {
	if progress == nil {
		progress = io.Discard
	}
	if log == nil {
		log = io.Discard
	}
	return &Reporter{progress: progress, log: log}
}

// Nested reports to the same log, with its progress lines indented: the
// steps of one step of a larger build.
func (r *Reporter) Nested() *Reporter {
	return &Reporter{progress: indent{r.progress}, log: r.log}
}

type indent struct{ w io.Writer }

func (i indent) Write(b []byte) (int, error) {
	if _, err := i.w.Write(append([]byte("  "), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Say prints one progress line, copied into the log as a comment.
func (r *Reporter) Say(format string, args ...any) {
	fmt.Fprintf(r.progress, format+"\n", args...)
	fmt.Fprintf(r.log, "# "+format+"\n", args...)
}

// Logf writes one line to the log only.
func (r *Reporter) Logf(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// StepError is a failed Timed part of a build, named for the user.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Timed runs one part of a build and prints its name and wall time; a
// failure is a *StepError naming it.
func (r *Reporter) Timed(name string, fn func() error) error {
	start := time.Now()
	r.Logf("### %s", name)
	err := fn()
	d := time.Since(start).Round(10 * time.Millisecond)
	if err != nil {
		r.Say("    %-40s FAILED after %s", name, d)
		r.Logf("! %v", err)
		return &StepError{Step: name, Err: err}
	}
	r.Say("    %-40s done in %s", name, d)
	return nil
}

// Run runs a command, logging its argv (and directory), stdout and stderr,
// and returns its stdout.
func (r *Reporter) Run(ctx context.Context, c execx.Cmd) ([]byte, error) {
	start := time.Now()
	where := ""
	if c.Dir != "" {
		where = " (in " + c.Dir + ")"
	}
	r.Logf("$ %s%s", strings.Join(c.Argv, " "), where)
	stdout, stderr, err := c.Output(ctx)
	for _, b := range [][]byte{stdout, stderr} {
		if len(b) > 0 && len(b) < maxLogged {
			r.log.Write(b)
			if b[len(b)-1] != '\n' {
				r.Logf("")
			}
		}
	}
	if err != nil {
		r.Logf("! failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return stdout, err
	}
	r.Logf("  (%s)", time.Since(start).Round(time.Millisecond))
	return stdout, nil
}
