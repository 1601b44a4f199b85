package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/buildlog"
)

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
func runSteps(ctx context.Context, r *buildlog.Reporter, st *stamps, force bool, steps []step) (int, error) {
	ran := 0
	for _, s := range steps {
		key, err := s.key()
		if err != nil {
			return ran, fmt.Errorf("%s: %w", s.name, err)
		}
		if prev, ok := st.Steps[s.name]; ok && !force && prev.Key == key && allExist(s.outputs()) {
			r.Say("==> %-8s up to date", s.name)
			continue
		}
		r.Say("==> %-8s building…", s.name)
		start := time.Now()
		info, err := s.run(ctx)
		if err != nil {
			r.Say("==> %-8s FAILED after %s", s.name, time.Since(start).Round(100*time.Millisecond))
			return ran, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := st.set(s.name, stampEntry{Key: key, Info: info}); err != nil {
			return ran, fmt.Errorf("%s: record stamp: %w", s.name, err)
		}
		r.Say("==> %-8s done in %s", s.name, time.Since(start).Round(100*time.Millisecond))
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
