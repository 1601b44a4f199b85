package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"banger/internal/agent"
	"banger/internal/buildlog"
	"banger/internal/execx"
)

// Guest paths of what the build installs.
const (
	MisePath      = "/usr/local/bin/mise"
	OpencodeRoot  = "/opt/banger/opencode" // + /<version>/bin/opencode, linked into mise
	TmuxPluginDir = "/root/.tmux/plugins"
	TmuxConf      = "/root/.tmux.conf"
	debDir        = "/var/cache/banger-build/debs"
	scratchLists  = "/var/cache/banger-build/lists"
	customizePath = "/var/cache/banger-build/customize"
)

// Tool is a pinned third-party tool put into the image.
type Tool struct {
	Name, Version string
	Path          string // host path: a binary, or a checked-out directory for tmux plugins
}

// Spec is what goes into a built image. Provision is the one place that
// turns it into changes of a root tree.
type Spec struct {
	Docker          bool
	Packages        []string // requested packages (packages.apt + --packages), recorded with their versions
	Debs            []string // host paths of the .debs to install (the closure apt planned)
	Mise, Opencode  Tool
	TmuxPlugins     []Tool // tmux-resurrect, tmux-continuum
	Agent           string // banger-vsock-agent binary
	CustomizeScript string // run as root in the tree, last
}

// miseActivate is sourced by bash login shells (/etc/profile.d) and
// appended to /etc/bash.bashrc for interactive ones.
const miseActivate = `# banger: mise for bash login and interactive shells
if [ -n "$BASH_VERSION" ] && [ -x /usr/local/bin/mise ] && [ -z "$__BANGER_MISE" ]; then
	__BANGER_MISE=1
	eval "$(/usr/local/bin/mise activate bash)"
fi
`

const bashrcMarker = "# banger: mise for bash"

// tmuxConf: continuum saves every 15 minutes; restoring is manual
// (prefix + Ctrl-r, resurrect's binding) unless the user turns it on.
func tmuxConf() string {
	return `# banger: tmux-resurrect + tmux-continuum
set -g @continuum-save-interval '15'
set -g @continuum-restore 'off'
run-shell ` + TmuxPluginDir + `/tmux-resurrect/resurrect.tmux
run-shell ` + TmuxPluginDir + `/tmux-continuum/continuum.tmux
`
}

// prov edits one tree.
type prov struct {
	r    *buildlog.Reporter
	dir  string   // host path of the tree
	root *os.Root // every host-side write goes through here: no link in the tree leads out
	made []string // guest paths created only for the build, removed at the end
}

// Provision applies s to the root tree at dir (as root). It returns the
// version lines recorded with the image: "name version", sorted.
func Provision(ctx context.Context, r *buildlog.Reporter, dir string, s Spec) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open the image tree: %w", err)
	}
	defer root.Close()
	p := &prov{r: r, dir: dir, root: root}
	for _, need := range []string{"usr/bin/apt-get", "usr/bin/dpkg", "usr/bin/systemctl", "bin/sh"} {
		if _, err := root.Stat(need); err != nil {
			return nil, fmt.Errorf("the base image has no /%s (image build needs a Debian base with systemd)", need)
		}
	}
	defer p.cleanup()
	steps := []struct {
		name string
		run  func() error
	}{
		{"prepare chroot", p.prepare},
		{fmt.Sprintf("install packages (%d debs)", len(s.Debs)), func() error { return p.installDebs(ctx, s.Debs) }},
		{docker(s.Docker), func() error { return p.docker(ctx, s.Docker, s.Packages) }},
		{"mise " + s.Mise.Version + " + opencode " + s.Opencode.Version, func() error { return p.mise(ctx, s.Mise, s.Opencode) }},
		{"tmux plugins", func() error { return p.tmux(s.TmuxPlugins) }},
		{"banger-vsock-agent", func() error { return p.agent(ctx, s.Agent) }},
	}
	if s.CustomizeScript != "" {
		steps = append(steps, struct {
			name string
			run  func() error
		}{"customize_script " + filepath.Base(s.CustomizeScript), func() error { return p.customize(ctx, s.CustomizeScript) }})
	}
	for _, st := range steps {
		if err := r.Timed(st.name, st.run); err != nil {
			return nil, err
		}
	}
	var versions []string
	if err := r.Timed("record versions", func() error {
		versions, err = p.versions(ctx, s)
		return err
	}); err != nil {
		return nil, err
	}
	return versions, p.cleanup()
}

func docker(on bool) string {
	if on {
		return "docker: enable"
	}
	return "docker: remove"
}

// chroot runs argv inside the tree as root with a clean environment.
func (p *prov) chroot(ctx context.Context, argv ...string) ([]byte, error) {
	chroot, err := execx.LookPath("chroot")
	if err != nil {
		return nil, err
	}
	return p.r.Run(ctx, execx.Cmd{
		Argv:      append([]string{chroot, p.dir}, argv...),
		SystemEnv: true,
		Env:       []string{"HOME=/root", "DEBIAN_FRONTEND=noninteractive", "TERM=dumb"},
	})
}

// aptArgs keep the guest's apt away from any source: only the local .deb
// files given on the command line are candidates.
func aptArgs(args ...string) []string {
	return append([]string{"/usr/bin/apt-get", "-y", "-q",
		"-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts=/nonexistent",
		"-o", "Dir::State::Lists=" + scratchLists, "-o", "APT::Install-Recommends=false",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
		"-o", "Dpkg::Use-Pty=0"}, args...)
}

func rel(guest string) string { return strings.TrimPrefix(path.Clean(guest), "/") }

// write replaces guest file g with data.
func (p *prov) write(g string, data []byte, mode fs.FileMode) error {
	if err := p.root.MkdirAll(path.Dir(rel(g)), 0o755); err != nil {
		return fmt.Errorf("write %s in the image: %w", g, err)
	}
	if err := p.root.Remove(rel(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s in the image: %w", g, err)
	}
	if err := p.root.WriteFile(rel(g), data, mode); err != nil {
		return fmt.Errorf("write %s in the image: %w", g, err)
	}
	return p.root.Chmod(rel(g), mode)
}

// copyIn copies host file src to guest path g.
func (p *prov) copyIn(src, g string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := p.root.MkdirAll(path.Dir(rel(g)), 0o755); err != nil {
		return fmt.Errorf("copy %s into the image: %w", g, err)
	}
	if err := p.root.Remove(rel(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("copy %s into the image: %w", g, err)
	}
	out, err := p.root.OpenFile(rel(g), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("copy %s into the image: %w", g, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s into the image: %w", g, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return p.root.Chmod(rel(g), mode)
}

// copyTreeIn copies host directory src (regular files, dirs, symlinks) to
// guest directory g.
func (p *prov) copyTreeIn(src, g string) error {
	return filepath.WalkDir(src, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, hp)
		dst := path.Join(g, filepath.ToSlash(r))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			if err := p.root.MkdirAll(rel(dst), 0o755); err != nil {
				return err
			}
			return p.root.Chmod(rel(dst), info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(hp)
			if err != nil {
				return err
			}
			p.root.Remove(rel(dst))
			return p.root.Symlink(t, rel(dst))
		case info.Mode().IsRegular():
			return p.copyIn(hp, dst, info.Mode().Perm())
		}
		return nil
	})
}

func (p *prov) prepare() error {
	// dpkg and maintainer scripts need these; the guest's own /dev is a
	// devtmpfs at boot, so they are removed again.
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"random", 1, 8}, {"urandom", 1, 9}} {
		g := "/dev/" + n.name
		if _, err := p.root.Lstat(rel(g)); err == nil {
			continue
		}
		if err := p.root.MkdirAll("dev", 0o755); err != nil {
			return err
		}
		if err := mknodChar(p.root, rel(g), n.major, n.minor); err != nil {
			return fmt.Errorf("create %s in the image tree: %w", g, err)
		}
		p.made = append(p.made, g)
	}
	// No service starts inside the chroot.
	if _, err := p.root.Lstat("usr/sbin/policy-rc.d"); errors.Is(err, fs.ErrNotExist) {
		if err := p.write("/usr/sbin/policy-rc.d", []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return err
		}
		p.made = append(p.made, "/usr/sbin/policy-rc.d")
	}
	if err := p.root.MkdirAll(rel(scratchLists+"/partial"), 0o755); err != nil {
		return err
	}
	if err := p.root.MkdirAll(rel(debDir), 0o755); err != nil {
		return err
	}
	p.made = append(p.made, "/var/cache/banger-build")
	if err := p.root.MkdirAll("tmp", 0o755); err != nil {
		return err
	}
	return p.root.Chmod("tmp", 0o777|os.ModeSticky)
}

func (p *prov) installDebs(ctx context.Context, debs []string) error {
	if len(debs) == 0 {
		p.r.Logf("nothing to install: every package is in the base")
		return nil
	}
	args := []string{"install"}
	for _, d := range debs {
		g := path.Join(debDir, filepath.Base(d))
		// A hard link when the cache shares the tree's filesystem.
		if err := os.Link(d, filepath.Join(p.dir, rel(g))); err != nil {
			if err := p.copyIn(d, g, 0o644); err != nil {
				return err
			}
		}
		args = append(args, g)
	}
	if _, err := p.chroot(ctx, aptArgs(args...)...); err != nil {
		return fmt.Errorf("install packages in the image: %s", aptErrors(err))
	}
	return nil
}

// docker enables docker.io, or removes Docker when the base has it (the
// requested packages are marked manual first so autoremove keeps them).
func (p *prov) docker(ctx context.Context, on bool, keep []string) error {
	installed := p.installed(ctx, "docker.io")
	if on {
		if !installed {
			return errors.New("docker.io is not installed in the image")
		}
		_, err := p.chroot(ctx, "/usr/bin/systemctl", "--no-reload", "enable", "docker.service", "containerd.service")
		return err
	}
	if !installed {
		p.r.Logf("docker.io is not in the base")
		return nil
	}
	if len(keep) > 0 {
		if _, err := p.chroot(ctx, append([]string{"/usr/bin/apt-mark", "manual"}, keep...)...); err != nil {
			return err
		}
	}
	if _, err := p.chroot(ctx, aptArgs("purge", "docker.io")...); err != nil {
		return fmt.Errorf("remove docker.io: %s", aptErrors(err))
	}
	if _, err := p.chroot(ctx, aptArgs("autoremove", "--purge")...); err != nil {
		return fmt.Errorf("remove docker's dependencies: %s", aptErrors(err))
	}
	for _, g := range []string{"var/lib/docker", "var/lib/containerd", "etc/docker"} {
		if err := p.root.RemoveAll(g); err != nil {
			return err
		}
	}
	return nil
}

func (p *prov) installed(ctx context.Context, pkg string) bool {
	out, err := p.chroot(ctx, "/usr/bin/dpkg-query", "-W", "-f", "${db:Status-Status}", pkg)
	return err == nil && strings.TrimSpace(string(out)) == "installed"
}

// mise installs the mise binary, activates it for bash, and registers the
// opencode binary with it offline (mise link), as root's global tool.
func (p *prov) mise(ctx context.Context, mise, opencode Tool) error {
	if err := p.copyIn(mise.Path, MisePath, 0o755); err != nil {
		return err
	}
	out, err := p.chroot(ctx, MisePath, "--version")
	if err != nil {
		return fmt.Errorf("run mise in the image: %w", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(out)), mise.Version) {
		return fmt.Errorf("mise in the image reports version %q, pinned %s", strings.TrimSpace(string(out)), mise.Version)
	}
	if err := p.write("/etc/profile.d/mise.sh", []byte(miseActivate), 0o644); err != nil {
		return err
	}
	rc, err := p.root.ReadFile("etc/bash.bashrc")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !strings.Contains(string(rc), bashrcMarker) {
		if err := p.write("/etc/bash.bashrc", append(rc, []byte("\n"+miseActivate)...), 0o644); err != nil {
			return err
		}
	}
	dir := path.Join(OpencodeRoot, opencode.Version)
	if err := p.copyIn(opencode.Path, dir+"/bin/opencode", 0o755); err != nil {
		return err
	}
	if _, err := p.chroot(ctx, MisePath, "link", "--force", "opencode@"+opencode.Version, dir); err != nil {
		return fmt.Errorf("mise link opencode: %w", err)
	}
	// The global config is written directly: `mise use` would ask the
	// network for opencode's versions.
	conf := "[tools]\nopencode = \"" + opencode.Version + "\"\n"
	if err := p.write("/root/.config/mise/config.toml", []byte(conf), 0o644); err != nil {
		return err
	}
	out, err = p.chroot(ctx, MisePath, "ls", "--installed", "opencode")
	if err != nil {
		return fmt.Errorf("mise ls in the image: %w", err)
	}
	if !strings.Contains(string(out), opencode.Version) {
		return fmt.Errorf("mise ls does not list opencode %s: %q", opencode.Version, out)
	}
	return nil
}

func (p *prov) tmux(plugins []Tool) error {
	for _, pl := range plugins {
		g := path.Join(TmuxPluginDir, pl.Name)
		if err := p.root.RemoveAll(rel(g)); err != nil {
			return err
		}
		if err := p.copyTreeIn(pl.Path, g); err != nil {
			return fmt.Errorf("copy %s into the image: %w", pl.Name, err)
		}
	}
	return p.write(TmuxConf, []byte(tmuxConf()), 0o644)
}

func (p *prov) agent(ctx context.Context, binary string) error {
	if err := p.copyIn(binary, agent.BinaryPath, 0o755); err != nil {
		return err
	}
	if err := p.write("/etc/systemd/system/"+agent.UnitName, []byte(agent.Unit), 0o644); err != nil {
		return err
	}
	_, err := p.chroot(ctx, "/usr/bin/systemctl", "--no-reload", "enable", agent.UnitName)
	return err
}

func (p *prov) customize(ctx context.Context, script string) error {
	if err := p.copyIn(script, customizePath, 0o755); err != nil {
		return fmt.Errorf("customize_script: %w", err)
	}
	if _, err := p.chroot(ctx, customizePath); err != nil {
		return fmt.Errorf("customize_script %s: %w", script, err)
	}
	return nil
}

// versions lists the requested packages' installed versions and the
// pinned tools.
func (p *prov) versions(ctx context.Context, s Spec) ([]string, error) {
	lines := []string{
		s.Mise.Name + " " + s.Mise.Version,
		s.Opencode.Name + " " + s.Opencode.Version,
	}
	for _, t := range s.TmuxPlugins {
		lines = append(lines, t.Name+" "+t.Version)
	}
	if len(s.Packages) > 0 {
		out, err := p.chroot(ctx, append([]string{"/usr/bin/dpkg-query", "-W", "-f", "${Package} ${Version}\n"}, s.Packages...)...)
		if err != nil {
			return nil, fmt.Errorf("read installed package versions: %w", err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				lines = append(lines, f[0]+" "+f[1])
			}
		}
	}
	sort.Strings(lines)
	return lines, nil
}

// cleanup removes what only the build needed. It is idempotent.
func (p *prov) cleanup() error {
	var errs []error
	for _, g := range p.made {
		if err := p.root.RemoveAll(rel(g)); err != nil {
			errs = append(errs, err)
		}
	}
	p.made = nil
	for _, g := range []string{"var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"} {
		p.root.Remove(g)
	}
	return errors.Join(errs...)
}
