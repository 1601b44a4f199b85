package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"banger/internal/bundle"
	"banger/internal/bundle/build"
	"banger/internal/bundle/cache"
)

// cacheFlags name a bundle cache entry: the directory scripts/test-bundle.sh
// and `make runtime-bundle` share, and the content key
// scripts/bundle-hash.sh computes.
type cacheFlags struct{ dir, key string }

func (f *cacheFlags) register(fs *flag.FlagSet, what string) {
	fs.StringVar(&f.dir, "cache", "", what)
	fs.StringVar(&f.key, "key", "", "content key of the bundle in --cache (scripts/bundle-hash.sh)")
}

// check requires a well-formed --key with --cache (an empty --cache means
// no cache).
func (f cacheFlags) check() error {
	switch {
	case f.dir == "":
		return nil // no cache: build in place
	case f.key == "":
		return errors.New("--cache needs --key (scripts/bundle-hash.sh prints it)")
	}
	return cache.CheckKey(f.key)
}

// open is the cache, handed to the invoking user under sudo.
func (f cacheFlags) open() (cache.Cache, error) {
	uid, gid, viaSudo := sudoOwner()
	if err := mkdirAllOwned(f.dir, uid, gid, viaSudo); err != nil {
		return cache.Cache{}, fmt.Errorf("create bundle cache %s: %w", f.dir, err)
	}
	c := cache.Cache{Dir: f.dir}
	if viaSudo {
		c.Chown = func(p string) error { return os.Lchown(p, uid, gid) }
	}
	return c, nil
}

// cachedBundle returns the cache entry for f's key, building it from
// Debian with bf's options when it is missing (progress on out).
func cachedBundle(ctx context.Context, f cacheFlags, bf buildFlags, out io.Writer) (string, error) {
	c, err := f.open()
	if err != nil {
		return "", err
	}
	entry, built, err := c.Get(ctx, f.key, func(ctx context.Context, dir string) error {
		b := bf
		b.dest = dir
		if b.log == "" {
			b.log = c.Entry(f.key) + ".log"
		}
		return runBuild(ctx, b, build.Build, out)
	})
	if err != nil {
		return "", err
	}
	if !built {
		fmt.Fprintf(out, "bundle %s is cached in %s\n", f.key, entry)
	}
	return entry, nil
}

// cmdCache builds (or finds) a cache entry and prints its directory, alone,
// on stdout: scripts/test-bundle.sh exports it as BANGER_TEST_BUNDLE.
func cmdCache(ctx context.Context, args []string) error {
	var cf cacheFlags
	var bf buildFlags
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	bf.register(fs, false)
	cf.register(fs, "bundle cache directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cf.dir == "" || cf.key == "" {
		return errors.New("cache: --cache and --key are required")
	}
	if err := cf.check(); err != nil {
		return err
	}
	entry, err := cachedBundle(ctx, cf, bf, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(entry)
	return nil
}

// installCached makes bf.dest a copy of the cache entry for cf's key,
// unless it already is one. The copy is the user's: their VMs boot from it
// and `banger-bundle agent` changes it; the entry stays as built.
func installCached(ctx context.Context, cf cacheFlags, bf buildFlags) error {
	if cache.InstalledKey(bf.dest) == cf.key && len(bundle.Verify(bf.dest)) == 0 {
		fmt.Printf("%s is up to date with cached bundle %s\n", bf.dest, cf.key)
		return nil
	}
	entry, err := cachedBundle(ctx, cf, bf, os.Stdout)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cache.Install(ctx, entry, bf.dest, cf.key); err != nil {
		return err
	}
	if uid, gid, ok := sudoOwner(); ok {
		if err := chown(bf.dest, uid, gid); err != nil {
			return err
		}
	}
	abs, _ := filepath.Abs(bf.dest)
	fmt.Printf("installed %s as a copy of %s in %s\n", abs, entry, time.Since(start).Round(100*time.Millisecond))
	return nil
}
