package imagebuild

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"banger/internal/execx"
)

// reporter prints one line per step with its wall time and writes every
// command with its output to the build log.
type reporter struct {
	progress io.Writer
	log      io.Writer
}

// newReporter writes to progress and log (io.Discard when nil).
func newReporter(progress, log io.Writer) *reporter {
	if progress == nil {
		progress = io.Discard
	}
	if log == nil {
		log = io.Discard
	}
	return &reporter{progress: progress, log: log}
}

func (r *reporter) say(format string, args ...any) {
	fmt.Fprintf(r.progress, format+"\n", args...)
	fmt.Fprintf(r.log, "# "+format+"\n", args...)
}

func (r *reporter) logf(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// StepError is a failed build step; the CLI names the step and the log.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("image build step %q: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// timed runs one step, printing its name and wall time.
func (r *reporter) timed(name string, fn func() error) error {
	start := time.Now()
	r.logf("### %s", name)
	err := fn()
	d := time.Since(start).Round(10 * time.Millisecond)
	if err != nil {
		r.say("  %-40s failed after %s", name, d)
		r.logf("! %v", err)
		return &StepError{Step: name, Err: err}
	}
	r.say("  %-40s %8s", name, d)
	return nil
}

// run runs a command, logging argv, stdout and stderr.
func (r *reporter) run(ctx context.Context, c execx.Cmd) ([]byte, error) {
	start := time.Now()
	r.logf("$ %s", strings.Join(c.Argv, " "))
	stdout, stderr, err := c.Output(ctx)
	for _, b := range [][]byte{stdout, stderr} {
		if len(b) > 0 && len(b) < 4<<20 {
			r.log.Write(b)
			if b[len(b)-1] != '\n' {
				r.logf("")
			}
		}
	}
	if err != nil {
		r.logf("! failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return stdout, err
	}
	r.logf("  (%s)", time.Since(start).Round(time.Millisecond))
	return stdout, nil
}
