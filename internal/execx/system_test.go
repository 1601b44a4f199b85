package execx

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSystemToolIgnoresCallerPATH(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sh"), []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	p, err := SystemTool("sh")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(SystemDirs, filepath.Dir(p)) {
		t.Errorf("SystemTool(sh) = %s, want a file in %v", p, SystemDirs)
	}
	for _, bad := range []string{"", "../sh", "/bin/sh", "bin/sh"} {
		if _, err := SystemTool(bad); err == nil {
			t.Errorf("SystemTool(%q) succeeded", bad)
		}
	}
	if _, err := SystemTool("banger-no-such-tool"); err == nil || !strings.Contains(err.Error(), SystemPATH) {
		t.Errorf("SystemTool of a missing program = %v", err)
	}
}

func TestRootOwnedExecutable(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(p, uid, 0); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	check := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return rootOwnedExecutable(p, st)
	}
	if err := check(file("noexec", 0o644, 0)); err == nil {
		t.Error("a non-executable file was accepted")
	}
	if err := check(file("groupw", 0o775, 0)); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("a group-writable tool = %v", err)
	}
	if err := check(dir); err == nil {
		t.Error("a directory was accepted")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	if err := check(file("user", 0o755, 1000)); err == nil || !strings.Contains(err.Error(), "not owned by root") {
		t.Errorf("a tool owned by uid 1000 = %v", err)
	}
	if err := check(file("good", 0o755, 0)); err != nil {
		t.Errorf("a root-owned 0755 tool = %v", err)
	}
}

func TestSystemEnvReplacesCallerEnvironment(t *testing.T) {
	t.Setenv("BANGER_CALLER_SECRET", "x")
	t.Setenv("PATH", t.TempDir()+":"+os.Getenv("PATH"))
	env, err := SystemTool("env")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Cmd{Argv: []string{env}, SystemEnv: true, Env: []string{"EXTRA=1"}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	want := []string{"EXTRA=1", "LC_ALL=C", "PATH=" + SystemPATH}
	if !slices.Equal(got, want) {
		t.Errorf("environment = %v, want %v", got, want)
	}
}
