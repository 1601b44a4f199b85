package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/aptstate"
	"banger/internal/buildlog"
	"banger/internal/execx"
)

// DefaultMirror is the Debian archive used when no --mirror is given and
// the host's own apt sources cannot serve the requested suite.
const DefaultMirror = aptstate.DefaultMirror

// aptSource fetches single .deb packages with the host's apt-get. On a
// Debian host of the requested suite, with no mirror given, it uses the
// host's sources as they are ("apt-get download" works as on any Debian
// machine). Otherwise it keeps a private apt state (sources, lists, cache)
// in a scratch directory pointing at the mirror. Either way the host's apt
// configuration applies, including Acquire::http::Proxy.
type aptSource struct {
	r      *buildlog.Reporter
	suite  string
	mirror string
	host   bool
	dir    string // private state; "" for the host's
}

func newAptSource(ctx context.Context, r *buildlog.Reporter, suite, mirror, scratch string) (*aptSource, error) {
	if _, err := execx.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("apt-get is needed to download Debian packages: %w", err)
	}
	a := &aptSource{r: r, suite: suite, mirror: mirror}
	if mirror == "" && hostSuite() == suite {
		a.host = true
		return a, nil
	}
	a.dir = filepath.Join(scratch, "apt")
	state := aptstate.Dir(a.dir)
	if err := state.Create(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(a.dir, "status"), nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(state.SourcesListPath(), []byte(aptstate.SourcesList(suite, mirror)), 0o644); err != nil {
		return nil, err
	}
	if _, err := r.Run(ctx, execx.Cmd{Argv: a.argv("apt-get", "update")}); err != nil {
		return nil, fmt.Errorf("apt-get update for %s %s: %w", a.mirrorName(), suite, err)
	}
	return a, nil
}

func (a *aptSource) mirrorName() string {
	if a.mirror == "" {
		return DefaultMirror
	}
	return a.mirror
}

// hostSuite is the host's Debian codename, or "" on other systems.
func hostSuite() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	var id, codename string
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, "=")
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			id = v
		case "VERSION_CODENAME":
			codename = v
		}
	}
	if id != "debian" {
		return ""
	}
	return codename
}

// argv prefixes an apt command with the options selecting the private state.
func (a *aptSource) argv(tool string, args ...string) []string {
	argv := append([]string{tool}, aptstate.SandboxOptions()...)
	if !a.host {
		argv = append(argv, aptstate.Dir(a.dir).Options(filepath.Join(a.dir, "status"))...)
	}
	return append(argv, args...)
}

// show returns the candidate version and Depends of pkg. On the host's
// sources a missing package triggers one apt-get update and a retry.
func (a *aptSource) show(ctx context.Context, pkg string) (version, depends string, err error) {
	out, err := a.r.Run(ctx, execx.Cmd{Argv: a.argv("apt-cache", "show", "--no-all-versions", pkg)})
	if (err != nil || len(out) == 0) && a.host {
		a.r.Say("    %s not in the host's apt lists; running apt-get update", pkg)
		if _, uerr := a.r.Run(ctx, execx.Cmd{Argv: a.argv("apt-get", "update")}); uerr != nil {
			return "", "", fmt.Errorf("apt-get update: %w", uerr)
		}
		out, err = a.r.Run(ctx, execx.Cmd{Argv: a.argv("apt-cache", "show", "--no-all-versions", pkg)})
	}
	if err != nil {
		return "", "", fmt.Errorf("find package %s: %w", pkg, err)
	}
	version, depends = parseShow(string(out))
	if version == "" {
		return "", "", fmt.Errorf("find package %s: no candidate version in %s %s", pkg, a.mirrorName(), a.suite)
	}
	return version, depends, nil
}

// parseShow reads Version and Depends of the first stanza of apt-cache show.
func parseShow(out string) (version, depends string) {
	for _, l := range strings.Split(out, "\n") {
		if l == "" && version != "" {
			break
		}
		if v, ok := strings.CutPrefix(l, "Version: "); ok && version == "" {
			version = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "Depends: "); ok && depends == "" {
			depends = strings.TrimSpace(v)
		}
	}
	return version, depends
}

// kernelImageDependency picks the linux-image-* package a kernel
// meta-package depends on, or "".
func kernelImageDependency(depends string) string {
	for _, alt := range strings.Split(depends, ",") {
		dep := strings.Fields(strings.TrimSpace(strings.Split(alt, "|")[0]))
		if len(dep) > 0 && strings.HasPrefix(dep[0], "linux-image-") {
			return dep[0]
		}
	}
	return ""
}

// resolveKernel turns a kernel meta-package (linux-image-cloud-amd64) into
// the concrete image package it depends on. A concrete name resolves to
// itself.
func (a *aptSource) resolveKernel(ctx context.Context, meta string) (name, version string, err error) {
	version, depends, err := a.show(ctx, meta)
	if err != nil {
		return "", "", err
	}
	if dep := kernelImageDependency(depends); dep != "" {
		v, _, err := a.show(ctx, dep)
		if err != nil {
			return "", "", err
		}
		return dep, v, nil
	}
	return meta, version, nil
}

// download fetches pkg's .deb into dir and returns its path.
func (a *aptSource) download(ctx context.Context, dir, pkg string) (string, error) {
	if _, err := a.r.Run(ctx, execx.Cmd{Argv: a.argv("apt-get", "download", pkg), Dir: dir}); err != nil {
		return "", fmt.Errorf("download %s: %w", pkg, err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(matches) != 1 {
		return "", fmt.Errorf("download %s: expected one .deb in %s, found %d", pkg, dir, len(matches))
	}
	return matches[0], nil
}

// aptProxyOptions returns the host's apt proxy settings as mmdebstrap
// --aptopt flags: mmdebstrap runs apt with its own configuration and would
// otherwise ignore them.
func aptProxyOptions(ctx context.Context) []string {
	var opts []string
	for _, key := range []string{"Acquire::http::Proxy", "Acquire::https::Proxy"} {
		out, err := execx.Run(ctx, "apt-config", "shell", "V", key)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(out))
		v = strings.TrimPrefix(v, "V=")
		v = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
		if v != "" {
			opts = append(opts, fmt.Sprintf("--aptopt=%s %q", key, v))
		}
	}
	return opts
}
