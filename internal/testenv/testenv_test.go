package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The helper's outcome is checked in a child test process, since a skip or
// a failure ends the test that calls it.
func TestRequireOrSkip(t *testing.T) {
	if mode := os.Getenv("TESTENV_CHILD"); mode != "" {
		RequireOrSkip(t, "present thing", true)
		RequireOrSkip(t, "the frobnicator tool", mode == "ok")
		t.Log("reached the end")
		return
	}
	for _, tc := range []struct {
		name, mode, ci string
		fail           bool
		want           string
	}{
		{"present", "ok", "true", false, "reached the end"},
		{"missing locally", "missing", "", false, "SKIP: TestRequireOrSkip"},
		{"missing locally with CI=false", "missing", "false", false, "skipping: needs the frobnicator tool"},
		{"missing under CI", "missing", "true", true, "CI=true and a prerequisite is missing: the frobnicator tool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequireOrSkip$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTENV_CHILD="+tc.mode, "CI="+tc.ci)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.fail {
				t.Fatalf("child failed=%v (%v), want failed=%v\n%s", failed, err, tc.fail, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("child output lacks %q:\n%s", tc.want, out)
			}
			if tc.mode == "missing" && strings.Contains(string(out), "reached the end") {
				t.Fatalf("test went on past a missing prerequisite:\n%s", out)
			}
		})
	}
}
