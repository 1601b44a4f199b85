package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/bundle"
	"banger/internal/bundle/bundletest"
	"banger/internal/bundle/cache"
)

func TestCacheFlagsAreChecked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cache", "--cache", dir}, "--cache and --key are required"},
		{[]string{"cache", "--key", "0123456789abcdef"}, "--cache and --key are required"},
		{[]string{"cache", "--cache", dir, "--key", "../../etc"}, `"../../etc"`},
		{[]string{"auto", "--manifest", "../../runtime-bundle.toml", "--cache", dir}, "--cache needs --key"},
		{[]string{"auto", "--manifest", "../../runtime-bundle.toml", "--cache", dir, "--key", "XYZ"}, `"XYZ"`},
	} {
		err := run(ctx, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one containing %q", c.args, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("rejected command lines created %d entries in the cache", len(ents))
	}
}

// With the entry already built, auto --cache installs a copy in --dest
// (nothing is built) and a second run leaves it alone.
func TestAutoInstallsTheCachedBundle(t *testing.T) {
	ctx := context.Background()
	c := cache.Cache{Dir: t.TempDir()}
	const key = "00112233445566778899aabbccddeeff"
	bundletest.WriteValid(t, c.Entry(key))
	dest := filepath.Join(t.TempDir(), "runtime")
	args := []string{"auto", "--manifest", "../../runtime-bundle.toml", "--dest", dest,
		"--agent", "/nonexistent-agent", "--cache", c.Dir, "--key", key}
	if err := run(ctx, args); err != nil {
		t.Fatal(err)
	}
	if cache.InstalledKey(dest) != key || len(bundle.Verify(dest)) > 0 {
		t.Fatalf("dest: key %q, problems %v", cache.InstalledKey(dest), bundle.Verify(dest))
	}
	marker := filepath.Join(dest, "marker")
	os.WriteFile(marker, nil, 0o644)
	if err := run(ctx, args); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("an up-to-date copy was replaced")
	}
}
