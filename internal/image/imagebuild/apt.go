package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"banger/internal/aptstate"
	"banger/internal/buildlog"
	"banger/internal/execx"
)

// DefaultMirror is the Debian archive used when debian_mirror is unset.
const DefaultMirror = aptstate.DefaultMirror

// Suite is the Debian release images are built from (the bundle's).
const Suite = "bookworm"

// debCache is the host side of the build's Debian packages: a private apt
// state (sources for the mirror, package lists, downloaded .debs) kept under
// the cache directory, shared by every build. Package resolution runs
// against the dpkg status of the tree being built, so exactly the missing
// closure is downloaded; with the lists and .debs cached, nothing touches
// the network.
type debCache struct {
	r      *buildlog.Reporter
	dir    string
	mirror string // "" = DefaultMirror with -updates and -security
}

// debRef is one package apt plans to install.
type debRef struct {
	Name, Version, Arch string
}

// file is the archive file name apt gives the .deb.
func (d debRef) file() string {
	return d.Name + "_" + strings.ReplaceAll(d.Version, ":", "%3a") + "_" + d.Arch + ".deb"
}

func newDebCache(r *buildlog.Reporter, dir, mirror string) (*debCache, error) {
	if _, err := execx.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("apt-get is needed to download Debian packages on the host: %w", err)
	}
	if mirror != "" {
		u, err := url.Parse(mirror)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || u.Host == "" && u.Scheme != "file" || strings.ContainsAny(mirror, " \t\n[]") {
			return nil, fmt.Errorf("debian_mirror %q: want an http://, https:// or file:// URL of a Debian archive", mirror)
		}
	}
	d := &debCache{r: r, dir: dir, mirror: mirror}
	if err := aptstate.Dir(dir).Create(); err != nil {
		return nil, fmt.Errorf("debian package cache: %w", err)
	}
	list := aptstate.SourcesList(Suite, mirror)
	p := aptstate.Dir(dir).SourcesListPath()
	if old, err := os.ReadFile(p); err != nil || string(old) != list {
		// Another mirror: its lists are not this one's.
		os.RemoveAll(aptstate.Dir(dir).ListsDir())
		os.MkdirAll(filepath.Join(aptstate.Dir(dir).ListsDir(), "partial"), 0o755)
		if err := os.WriteFile(p, []byte(list), 0o644); err != nil {
			return nil, fmt.Errorf("debian package cache: %w", err)
		}
	}
	return d, nil
}

func (d *debCache) mirrorName() string {
	if d.mirror == "" {
		return DefaultMirror
	}
	return d.mirror
}

func (d *debCache) archives() string { return aptstate.Dir(d.dir).ArchivesDir() }

// argv is an apt command on the private state, resolving against status.
func (d *debCache) argv(status, tool string, args ...string) []string {
	argv := append([]string{tool}, aptstate.Dir(d.dir).Options(status)...)
	argv = append(argv, "-o", "APT::Install-Recommends=false")
	argv = append(argv, aptstate.SandboxOptions()...)
	return append(argv, args...)
}

// haveLists reports whether package lists for the mirror are cached.
func (d *debCache) haveLists() bool {
	m, _ := filepath.Glob(filepath.Join(aptstate.Dir(d.dir).ListsDir(), "*_Packages*"))
	return len(m) > 0
}

// update refreshes the lists. A failure with lists already cached is a
// warning (the build goes on with them); without lists it is the error.
func (d *debCache) update(ctx context.Context) error {
	empty := filepath.Join(d.dir, "empty-status")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return err
	}
	_, err := d.r.Run(ctx, execx.Cmd{Argv: d.argv(empty, "apt-get", "update")})
	if err == nil && !d.haveLists() {
		err = errors.New("apt-get update left no package lists")
	}
	if err != nil {
		if d.haveLists() {
			d.r.Say("  warning: apt-get update for %s failed; using the cached package lists", d.mirrorName())
			return nil
		}
		return fmt.Errorf("no Debian package lists cached in %s and apt-get update from %s %s failed (the first build needs the network; `banger image fetch` on a connected host fills the cache): %s",
			d.dir, d.mirrorName(), Suite, aptErrors(err))
	}
	return nil
}

var instLine = regexp.MustCompile(`^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([a-z0-9]+)\]\)`)

// plan returns the packages apt would install for pkgs on a system whose
// dpkg status is status.
func (d *debCache) plan(ctx context.Context, status string, pkgs []string) ([]debRef, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	out, err := d.r.Run(ctx, execx.Cmd{Argv: d.argv(status, "apt-get", append([]string{"install", "-s", "-y"}, pkgs...)...)})
	if err != nil {
		return nil, fmt.Errorf("resolve packages %s in %s %s: %s", strings.Join(pkgs, " "), d.mirrorName(), Suite, aptErrors(err))
	}
	var refs []debRef
	for _, l := range strings.Split(string(out), "\n") {
		if m := instLine.FindStringSubmatch(l); m != nil {
			refs = append(refs, debRef{Name: m[1], Version: m[2], Arch: m[3]})
		}
	}
	return refs, nil
}

// download fetches the planned packages into the archive cache (nothing
// when they are all there already) and returns their paths.
func (d *debCache) download(ctx context.Context, status string, pkgs []string, refs []debRef) ([]string, error) {
	var missing bool
	paths := make([]string, len(refs))
	for i, ref := range refs {
		paths[i] = filepath.Join(d.archives(), ref.file())
		if _, err := os.Stat(paths[i]); err != nil {
			missing = true
		}
	}
	if !missing {
		return paths, nil
	}
	if _, err := d.r.Run(ctx, execx.Cmd{Argv: d.argv(status, "apt-get", append([]string{"install", "--download-only", "-y"}, pkgs...)...)}); err != nil {
		return nil, fmt.Errorf("download packages from %s: %s", d.mirrorName(), aptErrors(err))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("download packages: apt-get left no %s", filepath.Base(p))
		}
	}
	return paths, nil
}

// aptErrors quotes apt's own error lines ("E: Unable to locate package x").
func aptErrors(err error) string {
	var e *execx.Error
	if errors.As(err, &e) {
		var lines []string
		for _, l := range strings.Split(e.Stderr, "\n") {
			if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		if len(lines) > 0 {
			return "apt says: " + strings.Join(lines, "; ")
		}
	}
	return err.Error()
}
