package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/execx"
)

// DefaultMirror is the Debian archive used when no --mirror is given and
// the host's own apt sources cannot serve the requested suite.
const DefaultMirror = "http://deb.debian.org/debian"

const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// aptSource fetches single .deb packages with the host's apt-get. On a
// Debian host of the requested suite, with no mirror given, it uses the
// host's sources as they are ("apt-get download" works as on any Debian
// machine). Otherwise it keeps a private apt state (sources, lists, cache)
// in a scratch directory pointing at the mirror. Either way the host's apt
// configuration applies, including Acquire::http::Proxy.
type aptSource struct {
	r      *reporter
	suite  string
	mirror string
	host   bool
	dir    string // private state; "" for the host's
}

func newAptSource(ctx context.Context, r *reporter, suite, mirror, scratch string) (*aptSource, error) {
	if _, err := execx.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("apt-get is needed to download Debian packages: %w", err)
	}
	a := &aptSource{r: r, suite: suite, mirror: mirror}
	if mirror == "" && hostSuite() == suite {
		a.host = true
		return a, nil
	}
	a.dir = filepath.Join(scratch, "apt")
	for _, d := range []string{"etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(a.dir, "status"), nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(a.dir, "etc/sources.list"), []byte(sourcesList(suite, mirror)), 0o644); err != nil {
		return nil, err
	}
	if _, err := r.run(ctx, execx.Cmd{Argv: a.argv("apt-get", "update")}); err != nil {
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

// sourcesList is the private sources.list: the mirror, plus updates and
// security for a release suite when the default archive is used (the same
// choice mmdebstrap makes).
func sourcesList(suite, mirror string) string {
	signed := ""
	if _, err := os.Stat(debianKeyring); err == nil {
		signed = " [signed-by=" + debianKeyring + "]"
	}
	if mirror != "" {
		return fmt.Sprintf("deb%s %s %s main\n", signed, mirror, suite)
	}
	s := fmt.Sprintf("deb%s %s %s main\n", signed, DefaultMirror, suite)
	switch suite {
	case "sid", "unstable", "experimental", "rc-buggy":
	default:
		s += fmt.Sprintf("deb%s %s %s-updates main\n", signed, DefaultMirror, suite)
		s += fmt.Sprintf("deb%s http://security.debian.org/debian-security %s-security main\n", signed, suite)
	}
	return s
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
	argv := []string{tool}
	if os.Geteuid() == 0 {
		// Downloads land in scratch directories _apt cannot write to.
		argv = append(argv, "-o", "APT::Sandbox::User=root")
	}
	if !a.host {
		argv = append(argv,
			"-o", "Dir::Etc::SourceList="+filepath.Join(a.dir, "etc/sources.list"),
			"-o", "Dir::Etc::SourceParts="+filepath.Join(a.dir, "etc/sources.list.d"),
			"-o", "Dir::Etc::Preferences="+filepath.Join(a.dir, "etc/preferences"),
			"-o", "Dir::Etc::PreferencesParts="+filepath.Join(a.dir, "etc/preferences.d"),
			"-o", "Dir::State="+filepath.Join(a.dir, "state"),
			"-o", "Dir::State::status="+filepath.Join(a.dir, "status"),
			"-o", "Dir::Cache="+filepath.Join(a.dir, "cache"),
			"-o", "Debug::NoLocking=1",
		)
	}
	return append(argv, args...)
}

// show returns the candidate version and Depends of pkg. On the host's
// sources a missing package triggers one apt-get update and a retry.
func (a *aptSource) show(ctx context.Context, pkg string) (version, depends string, err error) {
	out, err := a.r.run(ctx, execx.Cmd{Argv: a.argv("apt-cache", "show", "--no-all-versions", pkg)})
	if (err != nil || len(out) == 0) && a.host {
		a.r.say("    %s not in the host's apt lists; running apt-get update", pkg)
		if _, uerr := a.r.run(ctx, execx.Cmd{Argv: a.argv("apt-get", "update")}); uerr != nil {
			return "", "", fmt.Errorf("apt-get update: %w", uerr)
		}
		out, err = a.r.run(ctx, execx.Cmd{Argv: a.argv("apt-cache", "show", "--no-all-versions", pkg)})
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
	if _, err := a.r.run(ctx, execx.Cmd{Argv: a.argv("apt-get", "download", pkg), Dir: dir}); err != nil {
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
