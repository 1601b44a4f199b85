package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandsDoNotQueryTheTerminal runs CLI commands on a pseudo-terminal
// that never answers (script(1) from util-linux, with nothing behind it)
// and checks that they send none of the terminal queries Lip Gloss makes
// for the TUI: only `banger tui` may talk to the terminal.
func TestCommandsDoNotQueryTheTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) from util-linux is needed for this test")
		}
		t.Skip("script(1) from util-linux is not installed")
	}
	e := newEnv(t)
	for _, args := range [][]string{{"--help"}, {"vm", "list"}, {"vm", "frobnicate"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		line := filepath.Join(binDir, "banger") + " " + strings.Join(args, " ")
		// -q quiet, -f flush, -e the command's exit status, -c the command;
		// the typescript goes nowhere.
		cmd := e.command(ctx, script, "-qfec", line, "/dev/null")
		cmd.Stdin = nil // /dev/null: no one types, no one answers
		cmd.Env = append(cmd.Env, "TERM=xterm-256color")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
			t.Fatalf("%s: %v", line, err)
		}
		for _, q := range []string{"\x1b]11;?", "\x1b[6n"} {
			if strings.Contains(out.String(), q) {
				t.Errorf("banger %s sent the terminal query %q:\n%q", strings.Join(args, " "), q, out.String())
			}
		}
		if want := map[string]string{"--help": "Usage:", "list": "no VMs yet", "frobnicate": "unknown command"}[args[len(args)-1]]; !strings.Contains(out.String(), want) {
			t.Errorf("banger %s did not print %q on the terminal:\n%q", strings.Join(args, " "), want, out.String())
		}
	}
}
