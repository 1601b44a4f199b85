package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsBadCommandLines(t *testing.T) {
	ctx := context.Background()
	var usage usageError
	for name, args := range map[string][]string{
		"no command":      nil,
		"unknown command": {"frobnicate"},
		"unknown flag":    {"verify", "--frob"},
	} {
		if err := run(ctx, args); !errors.As(err, &usage) {
			t.Errorf("%s: run(%q) = %v, want a usage error", name, args, err)
		}
	}
	if err := run(ctx, []string{"verify", "--dir", t.TempDir(), "extra"}); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("a stray argument: %v", err)
	}
	if err := run(ctx, []string{"help"}); err != nil {
		t.Errorf("help: %v", err)
	}
}

func TestVerifyAndPackageRefuseAnIncompleteBundle(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	if err := run(ctx, []string{"verify", "--dir", empty}); !errors.Is(err, errProblems) {
		t.Errorf("verify of an empty dir = %v, want errProblems", err)
	}
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := run(ctx, []string{"package", "--src", empty, "--out", out}); err == nil || !strings.Contains(err.Error(), "refusing to package") {
		t.Errorf("package of an empty dir = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused package left %s", out)
	}
	if err := run(ctx, []string{"fetch", "--manifest", filepath.Join(empty, "missing.toml"), "--dest", filepath.Join(empty, "dest")}); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("fetch with a missing manifest = %v, want an error naming it", err)
	}
	if b := os.Getenv("BANGER_TEST_BUNDLE"); b != "" {
		if err := run(ctx, []string{"verify", "--dir", b}); err != nil {
			t.Errorf("verify of the test bundle %s: %v", b, err)
		}
	}
}

// TestExitCodes runs the built command: 2 for usage errors, 1 for a bundle
// with problems, 0 for help.
func TestExitCodes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "banger-bundle")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for args, want := range map[string]int{"": 2, "frobnicate": 2, "verify --dir " + t.TempDir(): 1, "help": 0} {
		cmd := exec.Command(bin, strings.Fields(args)...)
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Errorf("banger-bundle %s: exit %d, want %d", args, code, want)
		}
	}
}
