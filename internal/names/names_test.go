package names

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := []string{"a", "calm-otter", "web-1", "0abc", strings.Repeat("x", 63)}
	for _, n := range good {
		if err := Validate(n); err != nil {
			t.Errorf("Validate(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		strings.Repeat("x", 64): "at most 63",
		"Calm":                  "'C'",
		"calm_otter":            "'_'",
		"calm.otter":            "'.'",
		"-calm":                 "start or end",
		"calm-":                 "start or end",
		"cälm":                  "only lower-case",
	}
	for n, want := range bad {
		err := Validate(n)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v, want mention of %q", n, err, want)
		}
	}
}

func TestGenerateAvoidsTaken(t *testing.T) {
	taken := map[string]bool{}
	for i := 0; i < 200; i++ {
		n := Generate(func(s string) bool { return taken[s] })
		if err := Validate(n); err != nil {
			t.Fatalf("generated invalid name %q: %v", n, err)
		}
		if taken[n] {
			t.Fatalf("generated taken name %q", n)
		}
		taken[n] = true
	}
}

func TestFromProgram(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("#!/bin/sh\necho '  build-box  '\n"), 0o755)
	n, err := FromProgram(context.Background(), good)
	if err != nil || n != "build-box" {
		t.Fatalf("got %q, %v", n, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'Not_A_Label'\n"), 0o755)
	if _, err := FromProgram(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Fatalf("want invalid name error, got %v", err)
	}
	failing := filepath.Join(dir, "fail")
	os.WriteFile(failing, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	if _, err := FromProgram(context.Background(), failing); err == nil {
		t.Fatal("want error from failing program")
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 16 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}
