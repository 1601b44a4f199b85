package build

import (
	"banger/internal/buildlog"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunStepsSkipsUpToDateSteps(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]string{"a": "1", "b": "1"}
	runs := map[string]int{}
	mk := func(name string) step {
		out := filepath.Join(dir, name+".out")
		return step{
			name:    name,
			key:     func() (string, error) { return keys[name], nil },
			outputs: func() []string { return []string{out} },
			run: func(context.Context) (map[string]string, error) {
				runs[name]++
				return map[string]string{"n": name}, os.WriteFile(out, []byte(name), 0o644)
			},
		}
	}
	steps := []step{mk("a"), mk("b")}
	var progress bytes.Buffer
	r := buildlog.New(&progress, &bytes.Buffer{})
	pass := func(force bool) int {
		t.Helper()
		st, err := loadStamps(dir) // fresh load: stamps persist on disk
		if err != nil {
			t.Fatal(err)
		}
		n, err := runSteps(context.Background(), r, st, force, steps)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if n := pass(false); n != 2 || runs["a"] != 1 || runs["b"] != 1 {
		t.Fatalf("first pass ran %d steps (%v)", n, runs)
	}
	if n := pass(false); n != 0 {
		t.Fatalf("unchanged pass ran %d steps", n)
	}
	if !strings.Contains(progress.String(), "up to date") {
		t.Errorf("no up-to-date report: %q", progress.String())
	}
	keys["b"] = "2"
	if n := pass(false); n != 1 || runs["b"] != 2 || runs["a"] != 1 {
		t.Fatalf("changed input of b: ran %d (%v)", n, runs)
	}
	os.Remove(filepath.Join(dir, "a.out"))
	if n := pass(false); n != 1 || runs["a"] != 2 {
		t.Fatalf("missing output of a: ran %d (%v)", n, runs)
	}
	if n := pass(true); n != 2 {
		t.Fatalf("forced pass ran %d", n)
	}
	st, _ := loadStamps(dir)
	if st.Steps["a"].Info["n"] != "a" {
		t.Errorf("step info not recorded: %+v", st.Steps)
	}
}

func TestRunStepsFailureRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	st, _ := loadStamps(dir)
	r := buildlog.New(&bytes.Buffer{}, &bytes.Buffer{})
	boom := step{
		name:    "boom",
		key:     func() (string, error) { return "k", nil },
		outputs: func() []string { return nil },
		run:     func(context.Context) (map[string]string, error) { return nil, errors.New("mmdebstrap exploded") },
	}
	_, err := runSteps(context.Background(), r, st, false, []step{boom})
	if err == nil || !strings.Contains(err.Error(), "boom: mmdebstrap exploded") {
		t.Fatalf("err = %v", err)
	}
	st, _ = loadStamps(dir)
	if _, ok := st.Steps["boom"]; ok {
		t.Fatal("a failed step was stamped")
	}
}
