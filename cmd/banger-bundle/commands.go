package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"banger/internal/bundle"
	"banger/internal/bundle/archive"
	"banger/internal/bundle/build"
	"banger/internal/image/imagebuild"
	"banger/internal/paths"
)

// errProblems means verify printed problems already.
var errProblems = errors.New("bundle has problems")

// usageError is a command-line mistake; the flag package has already
// printed it with the usage.
type usageError struct{ error }

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// fetchFlags and buildFlags are shared by the commands that use them.
type fetchFlags struct {
	manifest, dest string
	force          bool
}

func (f *fetchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.manifest, "manifest", "runtime-bundle.toml", "runtime bundle manifest")
	fs.StringVar(&f.dest, "dest", "runtime", "bundle directory to install")
}

type buildFlags struct {
	dest, agent, packages, suite, mirror, kernel, firecracker, log, base string
	force                                                                bool
}

func (f *buildFlags) register(fs *flag.FlagSet, rootfsOnly bool) {
	fs.StringVar(&f.dest, "dest", "runtime", "bundle directory to build or update")
	fs.StringVar(&f.agent, "agent", "", "banger-vsock-agent binary to install in the rootfs")
	fs.StringVar(&f.packages, "packages", "packages.apt", "Debian packages for the rootfs, one per line")
	fs.StringVar(&f.suite, "suite", build.DefaultSuite, "Debian suite")
	fs.StringVar(&f.mirror, "mirror", "", "Debian archive URL (default: the host's apt sources on a Debian host of the same suite, else "+build.DefaultMirror+")")
	fs.StringVar(&f.log, "log", "", "build log file (default ~/.local/state/banger/image-build/bundle-<time>.log)")
	fs.BoolVar(&f.force, "force", false, "redo every step even when its inputs are unchanged")
	if rootfsOnly {
		fs.StringVar(&f.base, "base-rootfs", "", "start from this ext4 image's content instead of mmdebstrap, then install --packages on top (Debian "+imagebuild.Suite+" from --mirror)")
	} else {
		fs.StringVar(&f.kernel, "kernel-package", build.DefaultKernelPackage, "Debian kernel (meta-)package")
		fs.StringVar(&f.firecracker, "firecracker", "", "firecracker binary to copy into the bundle (default: firecracker on PATH, if any)")
	}
}

func cmdFetch(ctx context.Context, args []string) error {
	var f fetchFlags
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	f.register(fs)
	fs.BoolVar(&f.force, "force", false, "fetch even when the bundle came from the same archive")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := archive.LoadManifest(f.manifest)
	if err != nil {
		return err
	}
	return fetch(ctx, m, f)
}

func fetch(ctx context.Context, m *archive.Manifest, f fetchFlags) error {
	if m.URL == "" {
		return fmt.Errorf("%s has an empty url: build the bundle instead (banger-bundle build, or make runtime-bundle)", f.manifest)
	}
	if !f.force && m.SHA256 != "" && archive.FetchedSHA256(f.dest) == m.SHA256 && len(bundle.Verify(f.dest)) == 0 {
		fmt.Printf("%s is up to date with %s\n", f.dest, m.Source())
		return nil
	}
	fmt.Printf("fetching %s\n", m.Source())
	start := time.Now()
	res, err := archive.Fetch(ctx, archive.FetchOptions{
		Source: m.Source(), SHA256: m.SHA256, Dest: f.dest, Check: verifyError,
	})
	if err != nil {
		return err
	}
	if uid, gid, ok := sudoOwner(); ok {
		if err := chown(f.dest, uid, gid); err != nil {
			return err
		}
	}
	fmt.Printf("installed %s: %d files, %d MiB unpacked from a %d MiB archive in %s\n",
		f.dest, res.Stats.Files, res.Stats.Bytes>>20, res.Size>>20, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// verifyError turns bundle problems into one error (the fetch check).
func verifyError(dir string) error {
	ps := bundle.Verify(dir)
	if len(ps) == 0 {
		return nil
	}
	var msgs []string
	for _, p := range ps {
		msgs = append(msgs, p.Item+": "+p.Message)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func cmdBuild(ctx context.Context, args []string) error {
	var f buildFlags
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	f.register(fs, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	return runBuild(ctx, f, build.Build, os.Stdout)
}

func cmdRootfs(ctx context.Context, args []string) error {
	var f buildFlags
	fs := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	f.register(fs, true)
	if err := parse(fs, args); err != nil {
		return err
	}
	return runBuild(ctx, f, build.Rootfs, os.Stdout)
}

func cmdAgent(ctx context.Context, args []string) error {
	var f buildFlags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&f.dest, "dest", "runtime", "bundle directory")
	fs.StringVar(&f.agent, "agent", "", "banger-vsock-agent binary to install")
	fs.StringVar(&f.log, "log", "", "log file (default ~/.local/state/banger/image-build/bundle-<time>.log)")
	fs.BoolVar(&f.force, "force", false, "install even when the bundle already has this agent")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.agent == "" {
		return errors.New("agent: --agent is required")
	}
	return runBuild(ctx, f, build.Agent, os.Stdout)
}

func cmdAuto(ctx context.Context, args []string) error {
	var ff fetchFlags
	var bf buildFlags
	var cf cacheFlags
	fs := flag.NewFlagSet("auto", flag.ContinueOnError)
	bf.register(fs, false) // --dest is shared
	cf.register(fs, "when the manifest has no url, install a copy of this cache's bundle for --key (building it there first when missing) instead of building in --dest")
	fs.StringVar(&ff.manifest, "manifest", "runtime-bundle.toml", "runtime bundle manifest")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cf.check(); err != nil {
		return err
	}
	m, err := archive.LoadManifest(ff.manifest)
	if err != nil {
		return err
	}
	if m.URL != "" {
		ff.dest, ff.force = bf.dest, bf.force
		return fetch(ctx, m, ff)
	}
	if cf.dir != "" && !bf.force {
		fmt.Printf("%s has no url: installing the bundle built from Debian in %s\n", ff.manifest, cf.dir)
		return installCached(ctx, cf, bf)
	}
	fmt.Printf("%s has no url: building the bundle from Debian\n", ff.manifest)
	return runBuild(ctx, bf, build.Build, os.Stdout)
}

// runBuild runs one build mode and reports on out.
func runBuild(ctx context.Context, f buildFlags, do func(context.Context, build.Options) (*build.Result, error), out io.Writer) error {
	logPath, logFile, err := openLog(f.log, "bundle")
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(out, "building %s (full log: %s)\n", f.dest, logPath)
	if f.mirror == "" {
		f.mirror = configuredMirror() // debian_mirror
	}
	o := build.Options{
		Dest: f.dest, Agent: f.agent, Packages: f.packages, Suite: f.suite, Mirror: f.mirror,
		KernelPackage: f.kernel, Firecracker: f.firecracker, BaseRootfs: f.base, Force: f.force,
		Progress: out, Log: logFile,
	}
	if uid, gid, ok := sudoOwner(); ok {
		o.Owner = &build.Owner{UID: uid, GID: gid}
	}
	start := time.Now()
	res, err := do(ctx, o)
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}
	if res.StepsRun == 0 {
		fmt.Fprintf(out, "%s is up to date (%s)\n", f.dest, time.Since(start).Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(out, "built %s in %s\n", f.dest, time.Since(start).Round(100*time.Millisecond))
	}
	if ps := bundle.Verify(f.dest); len(ps) > 0 {
		printProblems(os.Stderr, ps)
		return errProblems
	}
	return nil
}

// openLog opens the build log, by default under the invoking user's state
// directory (their home, also through sudo, and owned by them).
func openLog(p, prefix string) (string, *os.File, error) {
	uid, gid, viaSudo := sudoOwner()
	if p == "" {
		dir := ""
		if viaSudo {
			if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
				dir = filepath.Join(u.HomeDir, ".local", "state", "banger", "image-build")
			}
		}
		if dir == "" {
			l, err := paths.FromEnv()
			if err != nil {
				return "", nil, err
			}
			dir = l.ImageBuildDir()
		}
		p = filepath.Join(dir, prefix+"-"+time.Now().Format("20060102-150405")+".log")
	}
	if err := mkdirAllOwned(filepath.Dir(p), uid, gid, viaSudo); err != nil {
		return "", nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("open build log: %w", err)
	}
	if viaSudo {
		f.Chown(uid, gid)
	}
	return p, f, nil
}

// mkdirAllOwned is os.MkdirAll that gives the directories it creates to
// uid:gid when chown is set (so sudo does not leave root-owned directories
// in a user's home).
func mkdirAllOwned(dir string, uid, gid int, chown bool) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAllOwned(filepath.Dir(dir), uid, gid, chown); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if chown {
		return os.Lchown(dir, uid, gid)
	}
	return nil
}

func cmdPackage(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	src := fs.String("src", "runtime", "bundle directory to pack")
	out := fs.String("out", "dist/banger-runtime.tar.gz", "archive to write")
	if err := parse(fs, args); err != nil {
		return err
	}
	if ps := bundle.Verify(*src); len(ps) > 0 {
		printProblems(os.Stderr, ps)
		return fmt.Errorf("refusing to package an unusable bundle")
	}
	start := time.Now()
	sum, size, err := archive.PackFile(*src, *out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d MiB, %s; sparse images are stored in full and compress to their data)\n",
		*out, size>>20, time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("SHA256 %s\n", sum)
	fmt.Printf("%s  %s\n", sum, filepath.Base(*out))
	return nil
}

func cmdVerify(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dir := fs.String("dir", "runtime", "bundle directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	ps := bundle.Verify(*dir)
	if len(ps) > 0 {
		printProblems(os.Stdout, ps)
		return errProblems
	}
	fmt.Printf("%s: ok\n", *dir)
	return nil
}

func printProblems(w io.Writer, ps []bundle.Problem) {
	for _, p := range ps {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// sudoOwner is the invoking user when running as root through sudo: files
// made for them should be theirs.
func sudoOwner() (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	u, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	g, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || u == 0 {
		return 0, 0, false
	}
	return u, g, true
}

func chown(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
