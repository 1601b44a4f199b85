// Package testenv decides what a test does when something it needs from the
// machine (a tool, root, a built bundle, a file outside the repository) is
// missing: it is skipped on a developer's machine and fails under CI=true,
// where every prerequisite must be present. It is imported only from tests.
package testenv

import (
	"os"
	"testing"
)

// CI reports whether the tests run under CI (CI=true, as .ci/run sets it).
func CI() bool { return os.Getenv("CI") == "true" }

// RequireOrSkip does nothing when ok. Otherwise it skips t with a message
// naming what is missing, or fails t under CI=true.
func RequireOrSkip(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if CI() {
		t.Fatalf("CI=true and a prerequisite is missing: %s", what)
	}
	t.Skipf("skipping: needs %s", what)
}
