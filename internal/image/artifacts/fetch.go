package artifacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultRegistry is the npm registry npm artifacts come from.
const DefaultRegistry = "https://registry.npmjs.org"

// Source says where a fetched artifact came from.
type Source string

const (
	SourceMirror Source = "mirror"
	SourceCache  Source = "cache"
	SourceOrigin Source = "origin"
)

// Fetcher gets pinned artifacts onto this host. The order for each
// artifact is: a local mirror directory (used in place), the cache, a
// mirror URL, then the origin (the npm registry; git artifacts have none
// that banger downloads from). A warm cache therefore never touches the
// network, and the mirror is always tried before the origin. Whatever the
// source, the bytes are verified against the pin before they are used, and
// downloads reach the cache only after they verify.
type Fetcher struct {
	Mirror   string       // artifact_mirror: "", a directory, file:// or http(s):// URL
	CacheDir string       // paths.Layout.ArtifactCacheDir()
	Registry string       // npm registry base URL; "" is DefaultRegistry
	Client   *http.Client // nil is a client with connect and header timeouts
	GitBin   string       // "" is git on PATH
	Log      *slog.Logger // nil discards
}

// Result is one verified artifact on local disk.
type Result struct {
	Artifact Artifact
	Source   Source
	From     string // the mirror file or URL, cache file or origin URL it came from
	Path     string // the verified file: a local mirror file or a cache file
	Size     int64
	Duration time.Duration
}

// MismatchError is an artifact whose bytes do not match its pin. It is
// never cached.
type MismatchError struct {
	Artifact  Artifact
	From      string
	Want, Got string
}

func (e *MismatchError) Error() string {
	what := "sha512 integrity"
	switch e.Artifact.Kind {
	case Git:
		what = "git commit"
	case File:
		what = "sha256"
	}
	return fmt.Sprintf("artifact %s from %s does not match its pin: %s: expected %s, got %s", e.Artifact, e.From, what, e.Want, e.Got)
}

// Attempt is one source tried for an artifact and why it did not serve.
type Attempt struct {
	Source Source
	Where  string
	Err    error
}

// UnavailableError is an artifact no source could provide.
type UnavailableError struct {
	Artifact Artifact
	Attempts []Attempt
}

func (e *UnavailableError) Error() string {
	var tried []string
	for _, at := range e.Attempts {
		s := string(at.Source)
		if at.Where != "" {
			s += " " + at.Where
		}
		tried = append(tried, s+": "+at.Err.Error())
	}
	a := e.Artifact
	what := "the registry tarball"
	switch a.Kind {
	case Git:
		what = fmt.Sprintf("a git bundle of %s holding tag %s at commit %s", a.Repo, a.Tag, a.Commit)
	case File:
		what = "sha256 " + a.SHA256
		if a.SHA256 == "" {
			what = "a copy of the origin's file"
		}
	}
	return fmt.Sprintf("artifact %s is not available (%s); pre-seed artifact_mirror with %s (%s)",
		a, strings.Join(tried, "; "), a.FileName(), what)
}

var errNotFound = errors.New("not found")

// FetchAll fetches every artifact, calling progress after each success.
// It carries on past failures so one run reports everything missing.
func (f *Fetcher) FetchAll(ctx context.Context, arts []Artifact, progress func(Result)) ([]Result, error) {
	var out []Result
	var errs []error
	for _, a := range arts {
		r, err := f.Fetch(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
		if progress != nil {
			progress(r)
		}
	}
	return out, errors.Join(errs...)
}

// Fetch returns a verified local copy of one artifact.
func (f *Fetcher) Fetch(ctx context.Context, a Artifact) (Result, error) {
	start := time.Now()
	if err := a.Validate(); err != nil {
		return Result{}, err
	}
	m, err := ParseMirror(f.Mirror)
	if err != nil {
		return Result{}, fmt.Errorf("artifact_mirror %q: %w", f.Mirror, err)
	}
	if f.CacheDir == "" {
		return Result{}, errors.New("artifact cache directory not set")
	}
	done := func(src Source, from, path string) (Result, error) {
		st, err := os.Stat(path)
		if err != nil {
			return Result{}, fmt.Errorf("artifact %s: %w", a, err)
		}
		r := Result{Artifact: a, Source: src, From: from, Path: path, Size: st.Size(), Duration: time.Since(start)}
		f.log().Debug("artifact fetched", "artifact", a.Name, "pin", a.Pin(), "source", src, "from", from, "bytes", r.Size)
		return r, nil
	}
	var tried []Attempt
	miss := func(src Source, where string, err error) {
		tried = append(tried, Attempt{Source: src, Where: where, Err: err})
		f.log().Debug("artifact source missed", "artifact", a.Name, "source", src, "where", where, "error", err)
	}
	name := a.FileName()

	if m.Dir != "" {
		p := filepath.Join(m.Dir, name)
		switch _, err := os.Stat(p); {
		case err == nil:
			if err := f.verifyFile(ctx, a, p, p); err != nil {
				return Result{}, err
			}
			return done(SourceMirror, p, p)
		case errors.Is(err, os.ErrNotExist):
			miss(SourceMirror, m.Dir, fmt.Errorf("no %s", name))
		default:
			miss(SourceMirror, m.Dir, err)
		}
	}

	cached := filepath.Join(f.CacheDir, name)
	switch _, err := os.Stat(cached); {
	case err == nil:
		if err := f.verifyFile(ctx, a, cached, cached); err != nil {
			var mm *MismatchError
			if !errors.As(err, &mm) || ctx.Err() != nil {
				return Result{}, err
			}
			// A damaged cache entry is not the user's doing: drop it and
			// fetch again rather than fail.
			f.log().Warn("cached artifact failed verification; removed", "artifact", a.Name, "path", cached, "error", err)
			os.Remove(cached)
			miss(SourceCache, f.CacheDir, fmt.Errorf("%s failed verification and was removed", name))
			break
		}
		return done(SourceCache, cached, cached)
	case errors.Is(err, os.ErrNotExist):
		miss(SourceCache, f.CacheDir, fmt.Errorf("no %s", name))
	default:
		miss(SourceCache, f.CacheDir, err)
	}

	// tryURL downloads from u into the cache: ok when it verified; a hash
	// mismatch or a cancelled fetch ends the search (err); any other
	// failure is recorded and the next source is tried.
	tryURL := func(src Source, u string) (Result, bool, error) {
		err := f.download(ctx, a, u, cached)
		if err == nil {
			res, err := done(src, u, cached)
			return res, true, err
		}
		var mm *MismatchError
		if errors.As(err, &mm) || ctx.Err() != nil {
			return Result{}, false, err
		}
		miss(src, u, err)
		return Result{}, false, nil
	}
	if m.URL != "" {
		u := m.URL + "/" + name
		if res, ok, err := tryURL(SourceMirror, u); ok || err != nil {
			return res, err
		}
	}

	switch a.Kind {
	case NPM:
		reg := strings.TrimRight(f.Registry, "/")
		if reg == "" {
			reg = DefaultRegistry
		}
		u := originURL(reg, a)
		if res, ok, err := tryURL(SourceOrigin, u); ok || err != nil {
			return res, err
		}
	case Git:
		miss(SourceOrigin, a.Repo, errors.New("not downloaded by banger (GitHub is not a package source)"))
	case File:
		switch {
		case a.Origin == "":
		case strings.HasPrefix(a.Origin, "/"):
			// A local repository is used in place, like a mirror directory.
			p := filepath.Join(a.Origin, name)
			if _, err := os.Stat(p); err != nil {
				miss(SourceOrigin, a.Origin, fmt.Errorf("no %s", name))
				break
			}
			if err := f.verifyFile(ctx, a, p, p); err != nil {
				return Result{}, err
			}
			return done(SourceOrigin, p, p)
		default:
			u := strings.TrimRight(a.Origin, "/") + "/" + name
			if res, ok, err := tryURL(SourceOrigin, u); ok || err != nil {
				return res, err
			}
		}
	}
	if m.Dir == "" && m.URL == "" {
		tried = append([]Attempt{{Source: SourceMirror, Err: errors.New("artifact_mirror is not set")}}, tried...)
	}
	return Result{}, &UnavailableError{Artifact: a, Attempts: tried}
}

// verifyFile checks a local file against the artifact's pin.
func (f *Fetcher) verifyFile(ctx context.Context, a Artifact, path, from string) error {
	switch a.Kind {
	case NPM:
		sum, _, err := fileIntegrity(path)
		if err != nil {
			return fmt.Errorf("artifact %s: %w", a, err)
		}
		return checkIntegrity(a, from, sum)
	case Git:
		return f.verifyGit(ctx, a, path, from)
	case File:
		sum, err := fileSHA256(path)
		if err != nil {
			return fmt.Errorf("artifact %s: %w", a, err)
		}
		return checkSHA256(a, from, sum)
	}
	return fmt.Errorf("artifact %s: unknown kind %q", a, a.Kind)
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.New(slog.DiscardHandler)
}
