// Package imagebuild builds banger's managed images: a base image's tree is
// copied out of its ext4 without mounting it (disk.ExtractDir, safe against
// crafted images), provisioned in a chroot from files fetched on the host
// beforehand (Debian packages from a private apt cache, the pinned tools of
// internal/image/artifacts), and written into a flat ext4 rootfs plus a
// work-seed ext4 of /root with mkfs.ext4 -d. No loop device, no host mount
// of a disk image, no network inside the build once the caches are warm.
//
// It runs as root (chroot, file owners); the CLI runs it and registers the
// result with the daemon.
package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/buildlog"
	"banger/internal/bundle"
	"banger/internal/disk"
	"banger/internal/execx"
	"banger/internal/humanize"
)

// File names inside a managed image's version directory.
const (
	RootfsName   = "rootfs.ext4"
	WorkSeedName = "work-seed.ext4"
	VersionsName = "versions.txt"
)

const mib = int64(1) << 20

// WorkSeedMin is the smallest work seed (the bundle's size).
const WorkSeedMin = 256 * mib

// Options is one build.
type Options struct {
	BaseRootfs   string // ext4 to start from
	BaseWorkSeed string // its /root, when it has a work seed
	Packages     []string
	Spec         Spec      // what to provision; Debs is filled by Build
	Size         int64     // rootfs image size; 0 = content plus headroom
	DebianMirror string    // "" = DefaultMirror
	DebCacheDir  string    // private apt state and .debs, kept across builds
	OutDir       string    // version directory to create; must not exist
	Progress     io.Writer `json:"-"`
	Log          io.Writer `json:"-"`
}

// Result is a finished build.
type Result struct {
	Rootfs, WorkSeed, VersionsFile string
	Versions                       []string
}

// Build makes o.OutDir with the rootfs, work seed and version record. On
// failure nothing is left behind.
func Build(ctx context.Context, o Options) (_ *Result, err error) {
	r := buildlog.New(o.Progress, o.Log)
	if os.Geteuid() != 0 {
		return nil, errors.New("image build needs root (chroot and file owners in the image): run it with sudo")
	}
	for _, tool := range []string{"chroot", "mkfs.ext4", "debugfs", "apt-get"} {
		if _, err := execx.LookPath(tool); err != nil {
			return nil, fmt.Errorf("image build needs %s on the host: %w", tool, err)
		}
	}
	tree, out, done, err := newScratch(r, o.OutDir)
	if err != nil {
		return nil, err
	}
	defer done()

	if err := r.Timed("extract base "+filepath.Base(o.BaseRootfs), func() error {
		return extractBase(ctx, o.BaseRootfs, o.BaseWorkSeed, tree)
	}); err != nil {
		return nil, err
	}

	if err := r.Timed(fmt.Sprintf("debian packages (%d requested)", len(o.Packages)), func() error {
		debs, err := fetchDebs(ctx, r, o, tree)
		o.Spec.Debs = debs
		return err
	}); err != nil {
		return nil, err
	}

	o.Spec.Packages = o.Packages
	versions, err := Provision(ctx, r, tree, o.Spec)
	if err != nil {
		return nil, err
	}

	return writeImage(ctx, r, tree, out, o.OutDir, o.Size, versions)
}

// writeImage makes the work seed from tree's /root and the rootfs from the
// rest of tree in out (a scratch directory beside outDir), records
// versions, and moves out to outDir.
func writeImage(ctx context.Context, r *buildlog.Reporter, tree, out, outDir string, wantSize int64, versions []string) (*Result, error) {
	res := &Result{
		Rootfs:       filepath.Join(outDir, RootfsName),
		WorkSeed:     filepath.Join(outDir, WorkSeedName),
		VersionsFile: filepath.Join(outDir, VersionsName),
		Versions:     versions,
	}
	rootHome := filepath.Join(tree, "root")
	seedContent, _, err := disk.TreeSize(rootHome)
	if err != nil {
		return nil, err
	}
	// The work seed is cloned per VM; the rootfs is shared read-only, so
	// /root's content lives only in the seed.
	if err := r.Timed("mkfs.ext4 work seed (/root)", func() error {
		size := max(WorkSeedMin, roundUp(seedContent+seedContent/4+64*mib, 64*mib))
		return disk.MakeFromDir(ctx, r.Run, rootHome, filepath.Join(out, WorkSeedName), bundle.LabelWork, size, 0)
	}); err != nil {
		return nil, err
	}
	content, entries, err := disk.TreeSize(tree)
	if err != nil {
		return nil, err
	}
	size := disk.TreeImageSize(content)
	if wantSize > 0 {
		if wantSize < content+content/20 {
			return nil, fmt.Errorf("--size %s is too small for the image's %d MiB of content (use at least %d MiB)", humanize.Bytes(wantSize), content/mib, (content+content/10)/mib)
		}
		size = wantSize
	}
	inodes := disk.TreeInodes(size, entries)
	if err := r.Timed(fmt.Sprintf("mkfs.ext4 rootfs (%d MiB content, %d MiB image)", content/mib, size/mib), func() error {
		return disk.MakeFromDir(ctx, r.Run, tree, filepath.Join(out, RootfsName), bundle.LabelRoot, size, inodes)
	}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, VersionsName), []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(out, outDir); err != nil {
		return nil, fmt.Errorf("move the image into place: %w", err)
	}
	return res, nil
}

// newScratch makes a build directory beside outDir, which must not exist
// yet, with tree (to fill with the image's files) and out (for the images,
// renamed to outDir at the end) under it; done removes it.
func newScratch(r *buildlog.Reporter, outDir string) (tree, out string, done func(), err error) {
	if _, err := os.Stat(outDir); err == nil {
		return "", "", nil, fmt.Errorf("image directory %s already exists", outDir)
	}
	parent := filepath.Dir(outDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", nil, fmt.Errorf("create image directory: %w", err)
	}
	scratch, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return "", "", nil, fmt.Errorf("create build directory: %w", err)
	}
	done = func() {
		if err := os.RemoveAll(scratch); err != nil {
			r.Say("warning: remove %s: %v", scratch, err)
		}
	}
	out = filepath.Join(scratch, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		done()
		return "", "", nil, err
	}
	return filepath.Join(scratch, "tree"), out, done, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// extractBase copies the base rootfs into tree and, when the base has a
// work seed, replaces tree/root with the seed's content (what VMs of the
// base see at /root).
func extractBase(ctx context.Context, rootfs, seed, tree string) error {
	if ok, err := disk.IsExt4(rootfs); err != nil || !ok {
		return fmt.Errorf("base rootfs %s is not an ext4 image", rootfs)
	}
	if err := disk.ExtractDir(ctx, rootfs, "/", tree); err != nil {
		return fmt.Errorf("extract base rootfs %s: %w", rootfs, err)
	}
	if err := os.RemoveAll(filepath.Join(tree, "lost+found")); err != nil {
		return err
	}
	home := filepath.Join(tree, "root")
	if st, err := os.Lstat(home); err == nil && !st.IsDir() {
		return fmt.Errorf("base rootfs %s: /root is not a directory", rootfs)
	}
	if seed != "" {
		if err := os.RemoveAll(home); err != nil {
			return err
		}
		if err := disk.ExtractDir(ctx, seed, "/", home); err != nil {
			return fmt.Errorf("extract base work seed %s: %w", seed, err)
		}
		if err := os.RemoveAll(filepath.Join(home, "lost+found")); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	return os.Chmod(home, 0o700)
}

// fetchDebs resolves the requested packages against the tree's dpkg status
// and returns the cached .debs of the closure, downloading what is missing.
func fetchDebs(ctx context.Context, r *buildlog.Reporter, o Options, tree string) ([]string, error) {
	d, err := newDebCache(r, o.DebCacheDir, o.DebianMirror)
	if err != nil {
		return nil, err
	}
	if !d.haveLists() {
		if err := d.update(ctx); err != nil {
			return nil, err
		}
	}
	status := filepath.Join(tree, "var/lib/dpkg/status")
	if st, err := os.Lstat(status); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("the base image has no dpkg status (/var/lib/dpkg/status): image build needs a Debian base")
	}
	refs, err := d.plan(ctx, status, o.Packages)
	if err != nil {
		return nil, err
	}
	r.Logf("apt plans %d packages: %v", len(refs), refs)
	return d.download(ctx, status, o.Packages, refs)
}

// ReadPackageList returns the package names of a packages.apt-style file:
// one or more per line, '#' starts a comment.
func ReadPackageList(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		out = append(out, strings.Fields(l)...)
	}
	return out
}

// FetchDebs fills the Debian package cache for building on base (its dpkg
// state is read out of the ext4, nothing else): it refreshes the package
// lists and downloads the closure of pkgs. It returns how many packages the
// build would install.
func FetchDebs(ctx context.Context, progress, log io.Writer, base, mirror, cacheDir string, pkgs []string) (int, error) {
	r := buildlog.New(progress, log)
	tmp, err := os.MkdirTemp(cacheDir+"/..", ".dpkg-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(cacheDir), 0o755); err != nil {
			return 0, err
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(cacheDir), ".dpkg-"); err != nil {
			return 0, err
		}
	}
	defer os.RemoveAll(tmp)
	// Only the dpkg status is read, by debugfs inside the image (no root
	// needed, no link in the image followed on the host).
	debugfs, err := execx.LookPath("debugfs")
	if err != nil {
		return 0, err
	}
	st, err := r.Run(ctx, execx.Cmd{Argv: []string{debugfs, "-R", "cat /var/lib/dpkg/status", base}})
	if err != nil || len(st) == 0 {
		return 0, fmt.Errorf("read the dpkg status of %s: %v (image build needs a Debian base)", base, err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "dpkg"), 0o755); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "dpkg", "status"), st, 0o644); err != nil {
		return 0, err
	}
	d, err := newDebCache(r, cacheDir, mirror)
	if err != nil {
		return 0, err
	}
	if err := d.update(ctx); err != nil {
		return 0, err
	}
	status := filepath.Join(tmp, "dpkg", "status")
	refs, err := d.plan(ctx, status, pkgs)
	if err != nil {
		return 0, err
	}
	_, err = d.download(ctx, status, pkgs, refs)
	return len(refs), err
}
