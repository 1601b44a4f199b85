package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/bundle"
	"banger/internal/bundle/bundletest"
)

const key = "0123456789abcdef"

func TestGetBuildsOnceAndReuses(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	builds := 0
	var mu sync.Mutex
	build := func(_ context.Context, dir string) error {
		mu.Lock()
		builds++
		mu.Unlock()
		if !strings.HasSuffix(dir, ".partial") {
			t.Errorf("build into %s, want a .partial staging directory", dir)
		}
		bundletest.WriteValid(t, dir)
		return nil
	}
	// Two callers at once: the lock makes the second wait and reuse.
	var wg sync.WaitGroup
	entries := make([]string, 2)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := c.Get(context.Background(), key, build)
			if err != nil {
				t.Error(err)
			}
			entries[i] = e
		}()
	}
	wg.Wait()
	if builds != 1 {
		t.Fatalf("built %d times, want 1", builds)
	}
	if entries[0] != c.Entry(key) || entries[1] != c.Entry(key) {
		t.Fatalf("entries %v, want %s", entries, c.Entry(key))
	}
	if _, built, err := c.Get(context.Background(), key, build); err != nil || built || builds != 1 {
		t.Fatalf("third Get: built=%v err=%v builds=%d, want a reuse", built, err, builds)
	}
	if _, err := os.Stat(c.Entry(key) + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("staging directory left behind: %v", err)
	}
}

func TestGetFailedBuildLeavesNoEntry(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	boom := errors.New("mmdebstrap failed")
	_, _, err := c.Get(context.Background(), key, func(_ context.Context, dir string) error {
		bundletest.WriteValid(t, dir)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the build's", err)
	}
	if c.Complete(key) {
		t.Fatal("a failed build became a cache entry")
	}
	// The next caller builds again, over the unfinished directory.
	_, built, err := c.Get(context.Background(), key, func(_ context.Context, dir string) error {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("unfinished %s not removed before the build: %v", dir, err)
		}
		bundletest.WriteValid(t, dir)
		return nil
	})
	if err != nil || !built {
		t.Fatalf("rebuild: built=%v err=%v", built, err)
	}
}

func TestGetRebuildsAnUnusableEntry(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	bundletest.WriteValid(t, c.Entry(key))
	os.Remove(filepath.Join(c.Entry(key), bundle.RootfsName))
	_, built, err := c.Get(context.Background(), key, func(_ context.Context, dir string) error {
		bundletest.WriteValid(t, dir)
		return nil
	})
	if err != nil || !built || !c.Complete(key) {
		t.Fatalf("built=%v err=%v complete=%v, want a rebuild", built, err, c.Complete(key))
	}
}

func TestBadKeysAreRejected(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	for _, k := range []string{"", "../../etc", "0123456789ABCDEF", "0123", strings.Repeat("a", 65)} {
		_, _, err := c.Get(context.Background(), k, func(context.Context, string) error {
			t.Fatalf("key %q reached the build", k)
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", k)) {
			t.Errorf("key %q: err %v, want one naming the key", k, err)
		}
		if err := Install(context.Background(), t.TempDir(), t.TempDir(), k); err == nil {
			t.Errorf("Install accepted key %q", k)
		}
	}
}

func TestEvictKeepsTheMostRecent(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	old := time.Now().Add(-time.Hour)
	var keys []string
	for i := 0; i < Keep+2; i++ {
		k := fmt.Sprintf("%016x", i+1)
		keys = append(keys, k)
		bundletest.WriteValid(t, c.Entry(k))
		os.WriteFile(c.Entry(k)+".log", nil, 0o644)
		mod := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(c.Entry(k), mod, mod)
	}
	os.MkdirAll(filepath.Join(c.Dir, ".bin-x"), 0o755) // not an entry
	if _, built, err := c.Get(context.Background(), key, func(_ context.Context, dir string) error {
		bundletest.WriteValid(t, dir)
		return nil
	}); err != nil || !built {
		t.Fatal(built, err)
	}
	// The new entry and the Keep-1 newest old ones stay.
	for i, k := range keys {
		_, err := os.Stat(c.Entry(k))
		_, logErr := os.Stat(c.Entry(k) + ".log")
		if kept := i >= len(keys)-(Keep-1); kept != (err == nil) || kept != (logErr == nil) {
			t.Errorf("entry %d (%s): kept=%v, stat %v, log %v", i, k, kept, err, logErr)
		}
	}
	if !c.Complete(key) {
		t.Error("the new entry was evicted")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, ".bin-x")); err != nil {
		t.Error("eviction removed something that is not an entry")
	}
}

func TestInstallCopiesAndLeavesTheEntryAlone(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	entry := bundletest.WriteValid(t, c.Entry(key))
	rootfs := filepath.Join(entry, bundle.RootfsName)
	before, _ := os.ReadFile(rootfs)
	dest := filepath.Join(t.TempDir(), "runtime")
	// An older bundle in dest, with a file a VM holds a hard link to.
	bundletest.WriteValid(t, dest)
	vmLink := filepath.Join(t.TempDir(), "vm-rootfs")
	if err := os.Link(filepath.Join(dest, bundle.RootfsName), vmLink); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dest, "stale"), []byte("x"), 0o644)

	if InstalledKey(dest) != "" {
		t.Fatal("a built bundle claims a cache key")
	}
	if err := Install(context.Background(), entry, dest, key); err != nil {
		t.Fatal(err)
	}
	if got := InstalledKey(dest); got != key {
		t.Fatalf("InstalledKey %q, want %q", got, key)
	}
	if ps := bundle.Verify(dest); len(ps) > 0 {
		t.Fatalf("installed copy: %v", ps)
	}
	if _, err := os.Stat(filepath.Join(dest, "stale")); !os.IsNotExist(err) {
		t.Error("the old bundle's files survived the install")
	}
	if _, err := os.Stat(vmLink); err != nil {
		t.Errorf("a VM's hard link to the old rootfs: %v", err)
	}
	// Changing the copy (as `banger-bundle agent` does) leaves the entry as built.
	if err := os.WriteFile(filepath.Join(dest, bundle.RootfsName), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(rootfs)
	if string(after) != string(before) {
		t.Fatal("changing the installed copy changed the cache entry")
	}
	if _, err := os.Stat(filepath.Join(entry, KeyName)); !os.IsNotExist(err) {
		t.Error("Install wrote into the cache entry")
	}
	if entries, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".runtime.*")); len(entries) > 0 {
		t.Errorf("staging left behind: %v", entries)
	}
}
