package artifacts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Mirror is a parsed artifact_mirror: exactly one of Dir and URL is set,
// or neither when no mirror is configured.
type Mirror struct {
	Dir string // local directory
	URL string // http(s) base URL, without a trailing slash
}

// ParseMirror accepts "", an absolute directory, a file:// URL or an
// http(s):// URL.
func ParseMirror(s string) (Mirror, error) {
	const allowed = "must be an absolute directory, a file:// URL or an http(s):// URL"
	if s == "" {
		return Mirror{}, nil
	}
	if !strings.Contains(s, "://") {
		if !filepath.IsAbs(s) {
			return Mirror{}, errors.New(allowed)
		}
		return Mirror{Dir: filepath.Clean(s)}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Mirror{}, errors.New(allowed)
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return Mirror{}, errors.New("a file:// URL must name an absolute local directory, e.g. file:///srv/banger-mirror")
		}
		return Mirror{Dir: filepath.Clean(u.Path)}, nil
	case "http", "https":
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return Mirror{}, errors.New("an http(s) mirror URL needs a host and no query or fragment, e.g. https://mirror.example/banger")
		}
		return Mirror{URL: strings.TrimRight(s, "/")}, nil
	}
	return Mirror{}, errors.New(allowed)
}

// FillMirror puts a fetched artifact into dir under its mirror file name,
// so dir can serve as artifact_mirror on a host without network. A file
// already there that verifies is kept; anything else is replaced
// atomically. It reports whether it copied.
func (f *Fetcher) FillMirror(ctx context.Context, r Result, dir string) (path string, copied bool, err error) {
	dest := filepath.Join(dir, r.Artifact.FileName())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("create mirror %s: %w", dir, err)
	}
	if st, err := os.Stat(dest); err == nil {
		if src, err := os.Stat(r.Path); err == nil && os.SameFile(st, src) {
			return dest, false, nil
		}
		if f.verifyFile(ctx, r.Artifact, dest, dest) == nil {
			return dest, false, nil
		}
	}
	in, err := os.Open(r.Path)
	if err != nil {
		return "", false, fmt.Errorf("mirror %s: %w", r.Artifact, err)
	}
	defer in.Close()
	if err := writeAtomic(dest, 0o644, in); err != nil {
		return "", false, fmt.Errorf("mirror %s: %w", r.Artifact, err)
	}
	return dest, true, nil
}
