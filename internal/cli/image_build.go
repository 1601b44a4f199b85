package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"encoding/json"

	"banger/internal/api"
	"banger/internal/bundle"
	"banger/internal/client"
	"banger/internal/disk"
	"banger/internal/image/artifacts"
	"banger/internal/image/imagebuild"
	"banger/internal/names"
	"banger/internal/paths"
)

// imageBuildOptions is one `banger image build`.
type imageBuildOptions struct {
	Name, From, Packages, Size string
	Docker                     bool
}

func newImageBuildCmd(e *env) *cobra.Command {
	var o imageBuildOptions
	cmd := &cobra.Command{
		Use:   "build --name NAME [--from IMAGE] [--docker] [--packages FILE] [--size SIZE]",
		Short: "Build a managed image with the developer tooling (needs root)",
		Long: `Build makes a managed image: a flat ext4 rootfs and a work-seed.ext4 of /root
under banger's state directory. It starts from default_base_rootfs, else the
runtime bundle's rootfs.ext4, else rootfs-docker.ext4 (or --from IMAGE), and
installs the packages of the base image's packages.apt plus --packages FILE,
mise, opencode (through mise), tmux-resurrect + tmux-continuum for root, the
banger-vsock-agent service, Docker with --docker (removed without it), and
runs customize_script last.

Everything is fetched on the host first (pinned artifacts into
~/.cache/banger/artifacts, Debian packages into ~/.cache/banger/debs); the
build itself needs no network once those caches are warm. The fetch phase
and the daemon requests run as you; the build phase needs root (chroot, file
owners) and runs in this process when banger runs as root, else through
sudo (which may ask for your password). No disk image is mounted. Each step
prints its wall time; the full log is in ~/.local/state/banger/image-build/.
Rebuilding a name makes a new version; VMs created before keep theirs.`,
		Example: `  sudo banger image build --name docker-dev --docker
  sudo banger image build --name py --from docker-dev --packages ./extra.apt --size 4G`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageBuild(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "image name (required)")
	f.StringVar(&o.From, "from", "", "start from this image instead of the default base")
	f.BoolVar(&o.Docker, "docker", false, "install and enable Docker (without it, Docker is removed)")
	f.StringVar(&o.Packages, "packages", "", "file of extra Debian packages, one or more per line, '#' comments")
	f.StringVar(&o.Size, "size", "", "rootfs image size (e.g. 4G; default: content plus headroom)")
	return cmd
}

var debianPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// imageBuildFailed names the failed step and the log.
type imageBuildFailed struct {
	err error
	log string
}

func (e *imageBuildFailed) Error() string {
	return fmt.Sprintf("%v\nnothing was registered; full log: %s", e.err, e.log)
}
func (e *imageBuildFailed) Unwrap() error { return e.err }

func runImageBuild(ctx context.Context, e *env, o imageBuildOptions) error {
	start := time.Now()
	if o.Name == "" {
		return usagef("--name is required")
	}
	if err := names.Validate(o.Name); err != nil {
		return usagef("--name: %v", err)
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := e.Layout()
	if err != nil {
		return err
	}
	if o.Name == cfg.DefaultImage {
		return usagef("--name %s is the default image's name (from the runtime bundle); pick another", o.Name)
	}
	var size int64
	if o.Size != "" {
		if size, err = disk.ParseSize(o.Size); err != nil {
			return usagef("--size %q: %v", o.Size, err)
		}
	}
	var extra []string
	if o.Packages != "" {
		b, err := os.ReadFile(o.Packages)
		if err != nil {
			return usagef("--packages: cannot read %s: %v", o.Packages, err)
		}
		extra = imagebuild.ReadPackageList(b)
		for _, p := range extra {
			if !debianPackageName.MatchString(p) {
				return usagef("--packages %s: %q is not a Debian package name (lower-case letters, digits, + - .)", o.Packages, p)
			}
		}
	}
	if err := checkRootPhase(); err != nil {
		return err
	}
	c, err := e.Client(ctx)
	if err != nil {
		return err
	}

	// The name: new, or a managed image built before (a new version).
	existing, err := c.GetImage(ctx, o.Name)
	switch {
	case isNotFound(err):
	case err != nil:
		return err
	case existing.Name == o.Name && !builtImage(l, existing):
		return fmt.Errorf("image %s exists and was not built by `banger image build` (managed: %v, rootfs %s); pick another --name", o.Name, existing.Managed, existing.Rootfs)
	}

	// The base.
	var base api.Image
	var baseRootfs, baseSeed string
	if o.From != "" {
		var err error
		if base, err = c.GetImage(ctx, o.From); err != nil {
			if isNotFound(err) {
				return fmt.Errorf("--from %s: no such image (see `banger image list`)", o.From)
			}
			return err
		}
		baseRootfs, baseSeed = base.Rootfs, base.WorkSeed
	} else {
		var err error
		if base, err = c.GetImage(ctx, cfg.DefaultImage); err != nil && !isNotFound(err) {
			return err
		}
		exe, _ := os.Executable()
		runtimeDir, _ := paths.ResolveRuntimeDir(exe, cfg.RuntimeDir)
		switch {
		case cfg.DefaultBaseRootfs != "":
			baseRootfs = cfg.DefaultBaseRootfs
		case fileExists(filepath.Join(runtimeDir, "rootfs.ext4")):
			baseRootfs = filepath.Join(runtimeDir, "rootfs.ext4")
		case fileExists(filepath.Join(runtimeDir, bundle.RootfsName)):
			baseRootfs = filepath.Join(runtimeDir, bundle.RootfsName)
			if fileExists(filepath.Join(runtimeDir, bundle.WorkSeedName)) {
				baseSeed = filepath.Join(runtimeDir, bundle.WorkSeedName)
			}
		case base.Rootfs != "":
			baseRootfs, baseSeed = base.Rootfs, base.WorkSeed
		default:
			return fmt.Errorf("no base image: set default_base_rootfs, build the runtime bundle (`make runtime-bundle`) or pass --from IMAGE")
		}
	}
	if !fileExists(baseRootfs) {
		return fmt.Errorf("base rootfs %s does not exist", baseRootfs)
	}
	if err := imagebuild.CheckDebianBase(ctx, baseRootfs); err != nil {
		return err
	}
	if base.Kernel == "" {
		return fmt.Errorf("no kernel for the new image: the default image %q is not registered (build the runtime bundle first) ", cfg.DefaultImage)
	}

	// Packages: the base's packages.apt plus --packages; docker.io only
	// with --docker.
	var pkgs []string
	if base.Packages != "" {
		if b, err := os.ReadFile(base.Packages); err == nil {
			pkgs = imagebuild.ReadPackageList(b)
		}
	}
	pkgs = append(pkgs, extra...)
	pkgs = slices.DeleteFunc(pkgs, func(p string) bool { return p == "docker.io" })
	if o.Docker {
		pkgs = append(pkgs, "docker.io")
	}
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)

	agent := cfg.VsockAgentPath
	if agent == "" {
		exe, _ := os.Executable()
		runtimeDir, _ := paths.ResolveRuntimeDir(exe, cfg.RuntimeDir)
		agent = filepath.Join(runtimeDir, bundle.AgentName)
		if o.From == "" && filepath.Dir(baseRootfs) != runtimeDir && base.Rootfs != "" {
			if a := filepath.Join(filepath.Dir(base.Rootfs), bundle.AgentName); fileExists(a) {
				agent = a
			}
		}
	}
	if !fileExists(agent) {
		return fmt.Errorf("banger-vsock-agent %s does not exist (set vsock_agent_path or build the runtime bundle)", agent)
	}
	if cfg.CustomizeScript != "" {
		if f, err := os.Open(cfg.CustomizeScript); err != nil {
			return fmt.Errorf("customize_script: %w", err)
		} else {
			f.Close()
		}
	}

	logFile, logPath, err := openBuildLog(l.ImageBuildDir(), o.Name, start)
	if err != nil {
		return err
	}
	defer logFile.Close()
	out := io.MultiWriter(e.io.Out)
	fmt.Fprintf(out, "building image %s from %s (%d packages, docker: %v); log: %s\n", o.Name, baseRootfs, len(pkgs), o.Docker, logPath)
	fmt.Fprintf(logFile, "# image build %s from %s, packages: %v, docker: %v\n", o.Name, baseRootfs, pkgs, o.Docker)
	fail := func(err error) error { return &imageBuildFailed{err: err, log: logPath} }

	// Fetch phase (host; a warm cache touches no network).
	imagesDir := l.ImagesDir()
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return fail(fmt.Errorf("images directory: %w", err))
	}
	tools, err := os.MkdirTemp(imagesDir, ".tools-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tools)
	spec := imagebuild.Spec{Docker: o.Docker, Agent: agent, CustomizeScript: cfg.CustomizeScript}
	t0 := time.Now()
	fetcher := &artifacts.Fetcher{Mirror: cfg.ArtifactMirror, CacheDir: l.ArtifactCacheDir()}
	results, err := fetcher.FetchAll(ctx, artifacts.Pinned(), func(r artifacts.Result) {
		fmt.Fprintf(logFile, "artifact %s %s from %s (%s): %s\n", r.Artifact.Name, r.Artifact.Pin(), r.Source, r.From, r.Path)
	})
	if err != nil {
		fmt.Fprintf(out, "    %-40s FAILED after %s\n", "fetch pinned artifacts", time.Since(t0).Round(10*time.Millisecond))
		fmt.Fprintf(logFile, "! %v\n", err)
		return err // printed with the artifact hints
	}
	for _, r := range results {
		a := r.Artifact
		tool := imagebuild.Tool{Name: a.Name, Version: a.Pin(), Path: filepath.Join(tools, a.Name)}
		switch a.Kind {
		case artifacts.NPM:
			err = artifacts.ExtractBinary(a, r.Path, tool.Path)
		case artifacts.Git:
			err = fetcher.Checkout(ctx, a, r.Path, tool.Path)
		}
		if err != nil {
			return fail(fmt.Errorf("unpack %s: %w", a.Name, err))
		}
		switch a.Name {
		case "mise":
			spec.Mise = tool
		case "opencode":
			spec.Opencode = tool
		default:
			spec.TmuxPlugins = append(spec.TmuxPlugins, tool)
		}
	}
	if spec.Mise.Path == "" || spec.Opencode.Path == "" || len(spec.TmuxPlugins) != 2 {
		return fail(errors.New("the pinned artifacts lack mise, opencode or the tmux plugins"))
	}
	fmt.Fprintf(out, "    %-40s done in %s\n", fmt.Sprintf("fetch pinned artifacts (%d)", len(results)), time.Since(t0).Round(10*time.Millisecond))

	version := newVersion(start)
	outDir := filepath.Join(imagesDir, o.Name, version)
	bo := imagebuild.Options{
		BaseRootfs: baseRootfs, BaseWorkSeed: baseSeed, Packages: pkgs, Spec: spec, Size: size,
		DebianMirror: cfg.DebianMirror, DebCacheDir: l.DebCacheDir(), OutDir: outDir,
		Progress: out, Log: logFile,
	}
	var res *imagebuild.Result
	if os.Geteuid() == 0 {
		res, err = imagebuild.Build(ctx, bo)
	} else {
		// The user's own: the root phase hands back only what it adds.
		if err := os.MkdirAll(l.DebCacheDir(), 0o755); err != nil {
			return fail(fmt.Errorf("debian package cache: %w", err))
		}
		err = runRootPhase(ctx, e, buildPhase{Build: &bo, Log: logPath}, tools)
		res = &imagebuild.Result{Rootfs: filepath.Join(outDir, imagebuild.RootfsName), WorkSeed: filepath.Join(outDir, imagebuild.WorkSeedName)}
	}
	if err != nil {
		os.RemoveAll(outDir)
		os.Remove(filepath.Dir(outDir))
		return fail(err)
	}
	req := api.RegisterImageRequest{Name: o.Name, Rootfs: res.Rootfs, WorkSeed: res.WorkSeed, Managed: true,
		Kernel: base.Kernel, Initrd: base.Initrd, ModulesDir: base.ModulesDir, Packages: base.Packages}
	im, err := c.RegisterImage(ctx, req)
	if err != nil {
		os.RemoveAll(outDir)
		os.Remove(filepath.Dir(outDir))
		return fail(fmt.Errorf("register image %s: %w", o.Name, err))
	}
	fmt.Fprintf(out, "%s: built in %s (version %s)\n", im.Name, time.Since(start).Round(100*time.Millisecond), version)
	fmt.Fprintf(logFile, "# done in %s: %s\n", time.Since(start).Round(time.Millisecond), outDir)
	return nil
}

// openBuildLog creates dir/<name>-<time>.log for one build or save.
func openBuildLog(dir, name string, start time.Time) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("image build log directory: %w", err)
	}
	stamp := start.UTC().Format("20060102T150405Z")
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%s.log", name, stamp))
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	for i := 2; errors.Is(err, os.ErrExist) && i < 100; i++ { // two builds in one second
		logPath = filepath.Join(dir, fmt.Sprintf("%s-%s-%d.log", name, stamp, i))
		logFile, err = os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, "", fmt.Errorf("image build log: %w", err)
	}
	return logFile, logPath, nil
}

// newVersion names a version directory.
func newVersion(start time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func isNotFound(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && ae.Body.Code == api.CodeNotFound
}

// builtImage reports whether im is a version directory of `image build`.
func builtImage(l paths.Layout, im api.Image) bool {
	rel, err := filepath.Rel(l.ImagesDir(), im.Rootfs)
	return im.Managed && err == nil && filepath.IsLocal(rel)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// fetchDebsForDefaultBase is the Debian part of `image fetch`: the package
// closure an image build from the default base needs (its packages.apt,
// docker.io and extra), downloaded into the cache.
func fetchDebsForDefaultBase(ctx context.Context, e *env, extraFile string) error {
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := e.Layout()
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	runtimeDir, _ := paths.ResolveRuntimeDir(exe, cfg.RuntimeDir)
	var base string
	for _, p := range []string{cfg.DefaultBaseRootfs, filepath.Join(runtimeDir, "rootfs.ext4"), filepath.Join(runtimeDir, bundle.RootfsName)} {
		if p != "" && fileExists(p) {
			base = p
			break
		}
	}
	if base == "" {
		if extraFile != "" {
			return fmt.Errorf("--packages: no base image to resolve packages against (set default_base_rootfs or build the runtime bundle)")
		}
		fmt.Fprintf(e.io.Out, "debian packages: skipped (no base image in %s and no default_base_rootfs)\n", runtimeDir)
		return nil
	}
	pkgs := []string{"docker.io"}
	if b, err := os.ReadFile(filepath.Join(runtimeDir, bundle.PackagesName)); err == nil {
		pkgs = append(pkgs, imagebuild.ReadPackageList(b)...)
	}
	if extraFile != "" {
		b, err := os.ReadFile(extraFile)
		if err != nil {
			return usagef("--packages: cannot read %s: %v", extraFile, err)
		}
		pkgs = append(pkgs, imagebuild.ReadPackageList(b)...)
	}
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	t0 := time.Now()
	n, err := imagebuild.FetchDebs(ctx, io.Discard, io.Discard, base, cfg.DebianMirror, l.DebCacheDir(), pkgs)
	if err != nil {
		return fmt.Errorf("debian packages: %w", err)
	}
	fmt.Fprintf(e.io.Out, "debian packages: %d to install on %s, cached in %s (%s)\n", n, filepath.Base(base), l.DebCacheDir(), time.Since(t0).Round(time.Millisecond))
	return nil
}

// printImageVersions lists a built image's recorded versions.
func printImageVersions(w io.Writer, versions []string) {
	for i, v := range versions {
		label := ""
		if i == 0 {
			label = "versions:"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, v)
	}
}

// buildPhase is the root part of `image build` or `image save` run by a
// user: the options for `sudo banger image build-phase`, and who gets the
// files afterwards.
type buildPhase struct {
	Build    *imagebuild.Options     `json:"options,omitempty"`
	Save     *imagebuild.SaveOptions `json:"save,omitempty"`
	Log      string                  `json:"log"`
	UID, GID int
}

// checkRootPhase refuses early when the root phase cannot run: not root
// and no sudo.
func checkRootPhase() error {
	if os.Geteuid() == 0 {
		return nil
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		return errors.New("image build and image save need root for their root phase (chroot, file owners in the image) and sudo is not installed: run banger as root, or install sudo")
	}
	return nil
}

// rootPhaseArgv is the command line that runs the root phase whose spec
// is at spec.
func rootPhaseArgv(exe, spec string) []string {
	return []string{"sudo", "--", exe, "image", "build-phase", "--spec", spec}
}

// runRootPhase runs bp through sudo (which may ask for a password on the
// terminal), with its spec written into dir; the fetch phase and the
// daemon requests stay with the user.
func runRootPhase(ctx context.Context, e *env, bp buildPhase, dir string) error {
	bp.UID, bp.GID = os.Getuid(), os.Getgid()
	spec := filepath.Join(dir, "build-phase.json")
	b, err := json.Marshal(bp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := rootPhaseArgv(exe, spec)
	fmt.Fprintf(e.io.Out, "  root phase: %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.io.Out, e.io.ErrOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("root phase (%s): %w", strings.Join(argv[:5], " "), err)
	}
	return nil
}

// newImageBuildPhaseCmd is the hidden root half of `image build` and
// `image save`. Whoever may run it as root may run anything as root (it
// runs customize_script), so the files go back only to the user sudo
// names, and only the files this phase made.
func newImageBuildPhaseCmd(e *env) *cobra.Command {
	var specPath string
	cmd := &cobra.Command{
		Use: "build-phase --spec FILE", Hidden: true, Args: cobra.NoArgs,
		Short: "the root part of image build and image save (run by them through sudo)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuildPhase(cmd.Context(), e, specPath, os.Geteuid(), os.Getenv)
		},
	}
	cmd.Flags().StringVar(&specPath, "spec", "", "build phase spec (JSON)")
	return cmd
}

func runBuildPhase(ctx context.Context, e *env, specPath string, euid int, getenv func(string) string) error {
	if euid != 0 {
		return errors.New("image build-phase runs as root (image build and image save start it through sudo)")
	}
	b, err := os.ReadFile(specPath)
	if err != nil {
		return fmt.Errorf("build phase spec: %w", err)
	}
	var bp buildPhase
	if err := json.Unmarshal(b, &bp); err != nil {
		return fmt.Errorf("build phase spec %s: %w", specPath, err)
	}
	if (bp.Build == nil) == (bp.Save == nil) {
		return fmt.Errorf("build phase spec %s: want exactly one of options and save", specPath)
	}
	uid, gid, err := phaseOwner(bp, getenv)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(bp.Log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("image build log: %w", err)
	}
	defer logFile.Close()
	outDir, cacheDir := "", ""
	if bp.Build != nil {
		outDir, cacheDir = bp.Build.OutDir, bp.Build.DebCacheDir
	} else {
		outDir = bp.Save.OutDir
	}
	_, err = os.Lstat(filepath.Dir(outDir))
	newParent := errors.Is(err, os.ErrNotExist)
	var berr error
	if bp.Build != nil {
		o := *bp.Build
		o.Progress, o.Log = e.io.Out, logFile
		_, berr = imagebuild.Build(ctx, o)
	} else {
		o := *bp.Save
		o.Progress, o.Log = e.io.Out, logFile
		_, berr = imagebuild.Save(ctx, o)
	}
	// Hand what this phase made back to the user.
	if err := handBack(outDir, newParent, cacheDir, uid, gid); err != nil && berr == nil {
		berr = err
	}
	return berr
}

// phaseOwner is who gets the phase's files: the user sudo says ran it
// (SUDO_UID, SUDO_GID), which must be the one the spec names.
func phaseOwner(bp buildPhase, getenv func(string) string) (int, int, error) {
	su, sg := getenv("SUDO_UID"), getenv("SUDO_GID")
	if su == "" {
		// root ran it directly: the files go to whom the spec names.
		return bp.UID, bp.GID, nil
	}
	uid, err1 := strconv.Atoi(su)
	gid, err2 := strconv.Atoi(sg)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("build phase: SUDO_UID %q / SUDO_GID %q are not numbers", su, sg)
	}
	if uid != bp.UID || gid != bp.GID {
		return 0, 0, fmt.Errorf("build phase: the spec is for uid %d gid %d but sudo was run by uid %d gid %d", bp.UID, bp.GID, uid, gid)
	}
	return uid, gid, nil
}

// handBack gives uid the new version directory (and its image's directory
// when the phase made it) and what the phase added to the user's Debian
// package cache: files owned by root below a cache directory the user owns.
func handBack(outDir string, newParent bool, cacheDir string, uid, gid int) error {
	if outDir == "" {
		return nil
	}
	if err := chownTree(outDir, uid, gid, nil); err != nil {
		return err
	}
	if newParent {
		if err := os.Lchown(filepath.Dir(outDir), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if cacheDir == "" {
		return nil
	}
	st, err := os.Lstat(cacheDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || !st.IsDir() || int(sys.Uid) != uid {
		return fmt.Errorf("debian package cache %s is not a directory of uid %d: not handing anything in it over", cacheDir, uid)
	}
	return chownTree(cacheDir, uid, gid, func(st os.FileInfo) bool {
		sys, ok := st.Sys().(*syscall.Stat_t)
		return ok && sys.Uid == 0
	})
}

// chownTree gives dir and everything below it (links not followed) to
// uid, or only the entries only selects when it is set.
func chownTree(dir string, uid, gid int, only func(os.FileInfo) bool) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if only != nil {
			st, err := d.Info()
			if err != nil || !only(st) {
				return nil
			}
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("hand %s back to uid %s: %w", p, strconv.Itoa(uid), err)
		}
		return nil
	})
}
