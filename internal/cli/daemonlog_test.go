package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/client"
	"banger/internal/paths"
)

// TestStartupFailureQuotesTheLoggedError: when bangerd exits during
// startup, the CLI quotes its log, each JSON record shortened to its
// message and its "error" value.
func TestStartupFailureQuotesTheLoggedError(t *testing.T) {
	base := t.TempDir()
	l := paths.Layout{ConfigDir: filepath.Join(base, "config"), StateDir: filepath.Join(base, "state"), CacheDir: filepath.Join(base, "cache"), RuntimeDir: filepath.Join(base, "run")}
	fake := filepath.Join(base, "bangerd")
	script := `#!/bin/sh
echo '{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"startup failed","error":"open state db: disk on fire"}'
exit 3
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BANGER_DAEMON_BIN", fake)
	err := startDaemon(context.Background(), l, client.New(l.Socket()))
	if err == nil {
		t.Fatal("startDaemon succeeded with a bangerd that exits")
	}
	for _, want := range []string{"bangerd exited during startup", "exit status 3", "startup failed: open state db: disk on fire", l.LogFile()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestUnreachableHintNamesTheLogFromXDG: the hint names the daemon log
// where paths puts it, XDG_STATE_HOME included.
func TestUnreachableHintNamesTheLogFromXDG(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	var b bytes.Buffer
	printError(&b, fmt.Errorf("dial: %w", client.ErrUnreachable))
	want := filepath.Join(state, "banger", "bangerd.log")
	if !strings.Contains(b.String(), want) {
		t.Fatalf("hint does not name %s:\n%s", want, b.String())
	}
}
