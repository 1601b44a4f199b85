// Package cache keeps built runtime bundles in one directory, one entry per
// content key: a hash of everything a bundle is built from, computed by
// scripts/bundle-hash.sh. `make runtime-bundle` and scripts/test-bundle.sh
// share it, so a machine builds the Debian rootfs once for both.
//
// A complete entry is never changed: the VM tests boot it read-only, and
// ./runtime gets a copy (a reflink where the file system allows, else a
// sparse copy) that VMs and `banger-bundle agent` may then change. The
// package owns the entries, their lock and their eviction; it does not know
// how a bundle is built (the caller passes the build).
package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"banger/internal/bundle"
	"banger/internal/execx"
)

// Keep is how many entries survive a build: several branches may be tested
// side by side without evicting each other's bundle.
const Keep = 8

// KeyName, inside an installed copy, records the key of the entry it was
// copied from.
const KeyName = ".cache-key"

var keyRE = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// CheckKey rejects a key that is not 16 to 64 lower-case hex digits (it
// becomes a directory name).
func CheckKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("bundle cache key %q: want 16 to 64 lower-case hex digits (scripts/bundle-hash.sh prints one)", key)
	}
	return nil
}

// Cache is a directory of built bundles.
type Cache struct {
	Dir string
	// Chown, when set, is applied to what the cache creates outside an
	// entry (its directory and lock file), so a build run through sudo
	// leaves the user's cache theirs. Entries are the build's to chown.
	Chown func(path string) error
}

// Entry is the directory of key's bundle (which may not exist yet).
func (c Cache) Entry(key string) string { return filepath.Join(c.Dir, key) }

// Complete reports whether key's entry exists and is a usable bundle.
func (c Cache) Complete(key string) bool {
	if CheckKey(key) != nil {
		return false
	}
	return len(bundle.Verify(c.Entry(key))) == 0
}

// Get returns key's entry, first building it with build when it is missing
// or unusable. build writes a bundle into the directory it is given, which
// becomes the entry by a rename only when build succeeds. Callers are
// serialised by a lock file in the cache directory, so a second caller
// waits and reuses the first one's bundle. After a build, all but the Keep
// most recently built entries are removed.
func (c Cache) Get(ctx context.Context, key string, build func(ctx context.Context, dir string) error) (entry string, built bool, err error) {
	if err := CheckKey(key); err != nil {
		return "", false, err
	}
	unlock, err := c.lock()
	if err != nil {
		return "", false, err
	}
	defer unlock()
	entry = c.Entry(key)
	if c.Complete(key) {
		return entry, false, nil
	}
	partial := entry + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return "", false, fmt.Errorf("remove the unfinished bundle %s: %w", partial, err)
	}
	if err := build(ctx, partial); err != nil {
		return "", false, err
	}
	if err := os.RemoveAll(entry); err != nil {
		return "", false, fmt.Errorf("remove the unusable bundle %s: %w", entry, err)
	}
	if err := os.Rename(partial, entry); err != nil {
		return "", false, fmt.Errorf("complete bundle cache entry %s: %w", entry, err)
	}
	// A rename keeps the directory's old mtime, which eviction sorts by.
	now := time.Now()
	if err := os.Chtimes(entry, now, now); err != nil {
		return "", false, err
	}
	return entry, true, c.evict(key)
}

// lock takes the cache's lock file (flock, as scripts may take it too).
func (c Cache) lock() (func(), error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create bundle cache %s: %w", c.Dir, err)
	}
	p := filepath.Join(c.Dir, ".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bundle cache lock: %w", err)
	}
	if c.Chown != nil {
		for _, q := range []string{c.Dir, p} {
			if err := c.Chown(q); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("bundle cache lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

// evict removes all but the Keep most recent entries; keep is never removed.
func (c Cache) evict(keep string) error {
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return err
	}
	type entry struct {
		name string
		mod  int64
	}
	var es []entry
	for _, e := range ents {
		if !e.IsDir() || !keyRE.MatchString(e.Name()) || e.Name() == keep {
			continue
		}
		if fi, err := e.Info(); err == nil {
			es = append(es, entry{e.Name(), fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].mod > es[j].mod })
	var errs []error
	for i, e := range es {
		if i < Keep-1 {
			continue
		}
		p := c.Entry(e.name)
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove old cached bundle: %w", err))
		}
		os.Remove(p + ".log")
	}
	return errors.Join(errs...)
}

// Install makes dest a copy of entry (a reflink where the file system
// allows, else a sparse copy) recording key in it. dest is replaced as a
// whole, as a fetch replaces it; entry is only read.
func Install(ctx context.Context, entry, dest, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	dest, err := filepath.Abs(dest)
	if err != nil {
		return err
	}
	meta, err := os.Stat(filepath.Join(entry, bundle.FileName))
	if err != nil {
		return fmt.Errorf("cached bundle: %w", err)
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".staging-")
	if err != nil {
		return fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(staging)
	copyDir := filepath.Join(staging, "bundle")
	if _, err := execx.Run(ctx, "cp", "-a", "--reflink=auto", "--sparse=always", "-T", "--", entry, copyDir); err != nil {
		return fmt.Errorf("copy cached bundle %s: %w", entry, err)
	}
	keyFile := filepath.Join(copyDir, KeyName)
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o644); err != nil {
		return err
	}
	// The copy keeps the entry's owner (cp -a); so does the key file.
	if st, ok := meta.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(keyFile, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return bundle.Replace(copyDir, dest)
}

// InstalledKey is the key recorded in a bundle Install made, or "".
func InstalledKey(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, KeyName))
	if err != nil {
		return ""
	}
	k := string(b)
	if n := len(k); n > 0 && k[n-1] == '\n' {
		k = k[:n-1]
	}
	if CheckKey(k) != nil {
		return ""
	}
	return k
}
