package artifacts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/atomicfile"
)

// FetchUnpinned gets a file that has no pin because it is what the pins
// come from: a repository index such as Void's x86_64-repodata. A copy in
// artifact_mirror wins (whoever filled the mirror chose that snapshot of
// the repository, and its packages); otherwise it comes from origin, an
// http(s) base URL or an absolute directory. It is never taken from the
// cache, which would pin an index whose packages the repository may since
// have dropped; a downloaded copy is stored there as the record of what a
// build used. The returned error lists every source tried.
func (f *Fetcher) FetchUnpinned(ctx context.Context, name, origin string) (Result, error) {
	a := Artifact{Name: name, Kind: File, File: name}
	if !safeName(name) {
		return Result{}, fmt.Errorf("file name %q: must be letters, digits, '.', '_' or '-'", name)
	}
	m, err := ParseMirror(f.Mirror)
	if err != nil {
		return Result{}, fmt.Errorf("artifact_mirror %q: %w", f.Mirror, err)
	}
	if f.CacheDir == "" {
		return Result{}, errors.New("artifact cache directory not set")
	}
	var tried []Attempt
	local := func(src Source, dir string) (Result, bool) {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			tried = append(tried, Attempt{Source: src, Where: dir, Err: fmt.Errorf("no %s", name)})
			return Result{}, false
		}
		return Result{Artifact: a, Source: src, From: p, Path: p, Size: st.Size()}, true
	}
	remote := func(src Source, base string) (Result, bool, error) {
		u := strings.TrimRight(base, "/") + "/" + name
		dest := filepath.Join(f.CacheDir, name)
		if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
			return Result{}, false, fmt.Errorf("create artifact cache: %w", err)
		}
		tmp, err := atomicfile.Create(dest, 0o644)
		if err != nil {
			return Result{}, false, fmt.Errorf("create artifact cache file: %w", err)
		}
		defer tmp.Abort()
		if err := f.get(ctx, u, tmp); err != nil {
			if ctx.Err() != nil {
				return Result{}, false, ctx.Err()
			}
			tried = append(tried, Attempt{Source: src, Where: u, Err: err})
			return Result{}, false, nil
		}
		if err := tmp.Commit(); err != nil {
			return Result{}, false, err
		}
		st, err := os.Stat(dest)
		if err != nil {
			return Result{}, false, err
		}
		return Result{Artifact: a, Source: src, From: u, Path: dest, Size: st.Size()}, true, nil
	}
	if m.Dir != "" {
		if r, ok := local(SourceMirror, m.Dir); ok {
			return r, nil
		}
	}
	if m.URL != "" {
		if r, ok, err := remote(SourceMirror, m.URL); err != nil || ok {
			return r, err
		}
	}
	switch {
	case strings.HasPrefix(origin, "/"):
		if r, ok := local(SourceOrigin, origin); ok {
			return r, nil
		}
	case strings.HasPrefix(origin, "http://"), strings.HasPrefix(origin, "https://"):
		if r, ok, err := remote(SourceOrigin, origin); err != nil || ok {
			return r, err
		}
	default:
		return Result{}, fmt.Errorf("origin %q: must be an http(s) URL or an absolute directory", origin)
	}
	return Result{}, &UnavailableError{Artifact: a, Attempts: tried}
}
