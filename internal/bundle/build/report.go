package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/execx"
)

// reporter prints one line per step (with wall time) to the terminal and
// every command with its output to the build log.
type reporter struct {
	progress io.Writer
	log      io.Writer
}

func (r *reporter) say(format string, args ...any) {
	fmt.Fprintf(r.progress, format+"\n", args...)
	fmt.Fprintf(r.log, "# "+format+"\n", args...)
}

func (r *reporter) logf(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// run runs a command, logging argv, stdout and (on failure) stderr.
func (r *reporter) run(ctx context.Context, c execx.Cmd) ([]byte, error) {
	start := time.Now()
	where := ""
	if c.Dir != "" {
		where = " (in " + c.Dir + ")"
	}
	r.logf("$ %s%s", strings.Join(c.Argv, " "), where)
	out, err := c.Run(ctx)
	if len(out) > 0 && len(out) < 1<<20 {
		r.log.Write(out)
		if out[len(out)-1] != '\n' {
			r.logf("")
		}
	}
	if err != nil {
		r.logf("! failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		if e, ok := err.(*execx.Error); ok && e.Stderr != "" {
			r.logf("%s", e.Stderr)
		}
		return out, err
	}
	r.logf("  (%s)", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// step is one unit of the build with a content key over its inputs. A step
// whose key matches the recorded stamp and whose outputs all exist is
// skipped.
type step struct {
	name    string
	key     func() (string, error) // hash of everything the outputs depend on
	outputs func() []string        // paths that must exist for a skip
	run     func(ctx context.Context) (info map[string]string, err error)
}

// stamps is .build-stamps.json in the bundle: per step, the input key of
// the last successful run and facts later steps need (kernel release…).
type stamps struct {
	path  string
	Steps map[string]stampEntry `json:"steps"`
}

type stampEntry struct {
	Key  string            `json:"key"`
	Info map[string]string `json:"info,omitempty"`
}

// StampsName is the build-state file inside a bundle.
const StampsName = ".build-stamps.json"

func loadStamps(dir string) (*stamps, error) {
	s := &stamps{path: filepath.Join(dir, StampsName), Steps: map[string]stampEntry{}}
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build stamps: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil || s.Steps == nil {
		// A damaged stamp file only costs a rebuild.
		s.Steps = map[string]stampEntry{}
	}
	return s, nil
}

func (s *stamps) set(name string, e stampEntry) error {
	s.Steps[name] = e
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(b, '\n'), 0o644)
}

// runSteps runs each step unless its stamp is current. It reports "up to
// date" or the step's wall time, and returns how many steps did work.
func runSteps(ctx context.Context, r *reporter, st *stamps, force bool, steps []step) (int, error) {
	ran := 0
	for _, s := range steps {
		key, err := s.key()
		if err != nil {
			return ran, fmt.Errorf("%s: %w", s.name, err)
		}
		if prev, ok := st.Steps[s.name]; ok && !force && prev.Key == key && allExist(s.outputs()) {
			r.say("==> %-8s up to date", s.name)
			continue
		}
		r.say("==> %-8s building…", s.name)
		start := time.Now()
		info, err := s.run(ctx)
		if err != nil {
			r.say("==> %-8s FAILED after %s", s.name, time.Since(start).Round(100*time.Millisecond))
			return ran, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := st.set(s.name, stampEntry{Key: key, Info: info}); err != nil {
			return ran, fmt.Errorf("%s: record stamp: %w", s.name, err)
		}
		r.say("==> %-8s done in %s", s.name, time.Since(start).Round(100*time.Millisecond))
		ran++
	}
	return ran, nil
}

func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// timed runs one part of a step and prints its wall time.
func (r *reporter) timed(what string, fn func() error) error {
	start := time.Now()
	err := fn()
	verdict := "done"
	if err != nil {
		verdict = "FAILED"
	}
	r.say("    %-34s %s in %s", what, verdict, time.Since(start).Round(100*time.Millisecond))
	return err
}
