package build

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/buildlog"
	"banger/internal/bundle"
	"banger/internal/disk"
	"banger/internal/image/artifacts"
	"banger/internal/xbps"
)

// The experimental Void Linux rootfs: a lean x86_64-glibc Void userspace
// installed from the binary packages of a Void repository by banger's own
// XBPS reader (internal/xbps), so the build needs neither the xbps tools
// nor a Void host. It reuses the bundle's kernel modules and guest agent.
const (
	DefaultVoidMirror = "https://repo-default.voidlinux.org"
	VoidArch          = "x86_64" // x86_64-glibc; musl is a different repository
	VoidRootfsName    = "rootfs-void.ext4"
	VoidWorkSeedName  = "rootfs-void.work-seed.ext4"
	VoidPackagesName  = "packages.void"
)

// DefaultVoidKeys are the fingerprints of the repository signing keys
// trusted by default: Void Linux's official key, as xbps prints it (the
// xbps sources ship it as data/<fingerprint>.plist).
var DefaultVoidKeys = []string{"60:ae:0c:d6:f0:95:17:80:bc:93:46:7a:89:af:a3:2d"}

// VoidOptions configures VoidRootfs.
type VoidOptions struct {
	// Mirror is the Void mirror's root (the directory holding current/):
	// an http(s) URL, a file:// URL or an absolute directory.
	Mirror   string
	Packages string // packages.void
	Bundle   string // runtime bundle: kernel modules and guest agent come from here
	Agent    string // guest agent binary; "" is the bundle's
	// Out is the rootfs image to write ("" is <Bundle>/rootfs-void.ext4);
	// the work seed goes beside it, named by VoidWorkSeedPath.
	Out  string
	Size int64 // rootfs image size in bytes; 0 sizes it from the content
	// ArtifactMirror and CacheDir are banger's artifact_mirror and
	// artifact cache, the same ones image builds use.
	ArtifactMirror string
	CacheDir       string
	// TrustedKeys are the fingerprints of repository keys whose signed
	// packages are installed; nil is DefaultVoidKeys.
	TrustedKeys []string
	Client      *http.Client // nil: the artifact fetcher's default
	Progress    io.Writer
	Log         io.Writer
}

// VoidResult summarises a Void rootfs build.
type VoidResult struct {
	Rootfs, WorkSeed string
	Packages         []*xbps.Package // installed, in install order
	ScriptsRun       []string        // pkgvers whose INSTALL post action ran
	ScriptsFailed    []string        // pkgver: error
	RepodataFrom     string
	Key              *xbps.RepoKey // the key every package was verified with
}

// VoidWorkSeedPath is the work seed written beside a rootfs image:
// rootfs-void.ext4 → rootfs-void.work-seed.ext4.
func VoidWorkSeedPath(rootfs string) string {
	return strings.TrimSuffix(rootfs, ".ext4") + ".work-seed.ext4"
}

// VoidRootfs builds rootfs-void.ext4 and rootfs-void.work-seed.ext4 (or
// o.Out and its work seed). Everything is downloaded and verified before the output
// directory is touched; the images are built in a scratch directory inside
// it and renamed into place together at the end, so a failure leaves the
// previous images (or nothing) there.
func VoidRootfs(ctx context.Context, o VoidOptions) (*VoidResult, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	r := buildlog.New(o.Progress, o.Log)
	mirror, err := voidMirrorBase(o.Mirror)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		o.Out = filepath.Join(o.Bundle, VoidRootfsName)
	}
	if !strings.HasSuffix(o.Out, ".ext4") || strings.HasSuffix(o.Out, ".work-seed.ext4") {
		return nil, fmt.Errorf("output %q: want a rootfs image path ending in .ext4 (its work seed is written beside it as %s)", o.Out, filepath.Base(VoidWorkSeedPath("NAME.ext4")))
	}
	outDir := filepath.Dir(o.Out)
	if o.Size != 0 && o.Size < 256*mib {
		return nil, fmt.Errorf("size %d bytes: must be at least 256M", o.Size)
	}
	names, err := readVoidPackages(o.Packages)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("building the Void rootfs needs root (package file ownership, package scripts in a chroot): run it with sudo")
	}
	meta, err := bundle.Load(o.Bundle)
	if err != nil {
		return nil, fmt.Errorf("runtime bundle %s (the Void rootfs reuses its kernel modules and agent; run `make runtime-bundle`): %w", o.Bundle, err)
	}
	// modules_dir names the <release> directory itself.
	modules := filepath.Join(o.Bundle, meta.ModulesDir)
	if meta.KernelRelease == "" || filepath.Base(modules) != meta.KernelRelease {
		return nil, fmt.Errorf("runtime bundle %s: modules_dir %q does not name the kernel release %q", o.Bundle, meta.ModulesDir, meta.KernelRelease)
	}
	if _, err := os.Stat(filepath.Join(modules, "modules.dep")); err != nil {
		return nil, fmt.Errorf("runtime bundle %s: no kernel modules for %s: %w", o.Bundle, meta.KernelRelease, err)
	}
	agent := o.Agent
	if agent == "" {
		agent = filepath.Join(o.Bundle, meta.Agent)
	}
	if _, err := os.Stat(agent); err != nil {
		return nil, fmt.Errorf("guest agent: %w", err)
	}

	f := &artifacts.Fetcher{Mirror: o.ArtifactMirror, CacheDir: o.CacheDir, Client: o.Client}
	res := &VoidResult{}
	var ix *xbps.Index
	if err := r.Timed("repository index", func() error {
		var err error
		ix, res.RepodataFrom, err = fetchVoidIndex(ctx, f, mirror, o.Mirror)
		return err
	}); err != nil {
		return nil, err
	}
	trusted := o.TrustedKeys
	if trusted == nil {
		trusted = DefaultVoidKeys
	}
	if res.Key, err = trustedKey(ix, res.RepodataFrom, trusted); err != nil {
		return nil, err
	}
	pkgs, err := ix.Resolve(names)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.Packages, err)
	}
	res.Packages = pkgs
	r.Logf("resolved %d packages from %d in %s", len(pkgs), len(names), o.Packages)
	var files map[string]string
	if err := r.Timed(fmt.Sprintf("fetch %d packages", len(pkgs)), func() error {
		var err error
		files, err = fetchVoidPackages(ctx, f, mirror, pkgs, res.Key)
		return err
	}); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(outDir, ".rootfs-void.build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	tree := guestTree(filepath.Join(scratch, "rootfs"))
	if err := os.Mkdir(string(tree), 0o755); err != nil {
		return nil, err
	}
	inst := &voidInstaller{r: r, tree: tree, arch: VoidArch, requested: map[string]bool{}}
	for _, n := range names {
		inst.requested[xbps.PatternName(n)] = true
	}
	if err := r.Timed("unpack packages", func() error {
		for _, p := range pkgs {
			if err := inst.unpack(p, files[p.Name]); err != nil {
				return err
			}
		}
		return inst.alternatives(pkgs)
	}); err != nil {
		return nil, err
	}
	if err := r.Timed("package scripts (INSTALL post)", func() error {
		return inst.runScripts(ctx, pkgs)
	}); err != nil {
		return nil, err
	}
	res.ScriptsRun, res.ScriptsFailed = inst.scriptsRun, inst.scriptsFailed
	if err := inst.writePkgdb(pkgs, time.Now()); err != nil {
		return nil, err
	}
	if err := r.Timed("banger guest setup", func() error {
		return finishVoidTree(tree, modules, meta.KernelRelease, agent)
	}); err != nil {
		return nil, err
	}

	content, entries, err := disk.TreeSize(string(tree))
	if err != nil {
		return nil, err
	}
	size := o.Size
	if size == 0 {
		size = disk.TreeImageSize(content)
	} else if need := disk.TreeImageSize(content) - 64*mib; size < need {
		return nil, fmt.Errorf("--size %d MiB is too small for %d MiB of content: use at least %d MiB", size/mib, content/mib, need/mib)
	}
	inodes := disk.TreeInodes(size, entries)
	rootfsTmp := filepath.Join(scratch, "rootfs.ext4")
	seedTmp := filepath.Join(scratch, "work-seed.ext4")
	if err := r.Timed(fmt.Sprintf("mkfs.ext4 rootfs (%d MiB content, %d MiB image)", content/mib, size/mib), func() error {
		return disk.MakeFromDir(ctx, r.Run, string(tree), rootfsTmp, bundle.LabelRoot, size, inodes)
	}); err != nil {
		return nil, err
	}
	rootHome, err := tree.resolve("/root", true)
	if err != nil {
		return nil, err
	}
	if err := r.Timed("mkfs.ext4 work seed (/root)", func() error {
		return disk.MakeFromDir(ctx, r.Run, rootHome, seedTmp, bundle.LabelWork, WorkSeedSize, 0)
	}); err != nil {
		return nil, err
	}
	res.Rootfs = o.Out
	res.WorkSeed = VoidWorkSeedPath(o.Out)
	// The seed first: a rootfs is never published next to a seed from
	// another build without the seed having been replaced too.
	if err := atomicfile.Publish(seedTmp, res.WorkSeed); err != nil {
		return nil, err
	}
	if err := atomicfile.Publish(rootfsTmp, res.Rootfs); err != nil {
		return nil, err
	}
	return res, nil
}

// voidMirrorBase checks the mirror and returns where its current
// repository is: "<url>/current" or "<dir>/current".
func voidMirrorBase(m string) (string, error) {
	const allowed = "want the root of a Void mirror: an http(s) URL (like " + DefaultVoidMirror + "), a file:// URL or an absolute directory"
	if m == "" {
		m = DefaultVoidMirror
	}
	pm, err := artifacts.ParseMirror(m)
	if err != nil {
		return "", fmt.Errorf("mirror %q: %s", m, allowed)
	}
	if pm.Dir != "" {
		return filepath.Join(pm.Dir, "current"), nil
	}
	return pm.URL + "/current", nil
}

// fetchVoidIndex gets and parses the repository index.
func fetchVoidIndex(ctx context.Context, f *artifacts.Fetcher, base, mirror string) (*xbps.Index, string, error) {
	if mirror == "" {
		mirror = DefaultVoidMirror
	}
	name := VoidArch + "-repodata"
	res, err := f.FetchUnpinned(ctx, name, base)
	if err != nil {
		return nil, "", fmt.Errorf("cannot get the Void repository index %s from the mirror %s: %w; check that the mirror is reachable, or pass another with --mirror URL (a local copy of a Void mirror works too: --mirror /path/to/mirror)", name, mirror, err)
	}
	fh, err := os.Open(res.Path)
	if err != nil {
		return nil, "", err
	}
	defer fh.Close()
	ix, err := xbps.ReadIndex(fh, VoidArch)
	if err != nil {
		return nil, "", fmt.Errorf("the Void repository index from %s: %w", res.From, err)
	}
	if len(ix.Packages) == 0 {
		return nil, "", fmt.Errorf("the Void repository index from %s lists no packages", res.From)
	}
	return ix, res.From, nil
}

// trustedKey returns the index's signing key when it is one of trusted.
func trustedKey(ix *xbps.Index, from string, trusted []string) (*xbps.RepoKey, error) {
	hint := fmt.Sprintf("banger installs only packages signed with a trusted key (trusted: %s; trust another with --trust-key FINGERPRINT)", strings.Join(trusted, ", "))
	k, err := ix.Key()
	if err != nil {
		return nil, fmt.Errorf("the Void repository index from %s: %w: %s", from, err, hint)
	}
	for _, fp := range trusted {
		if strings.EqualFold(fp, k.Fingerprint) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("the Void repository index from %s is signed with key %s (%q), which is not trusted: %s", from, k.Fingerprint, k.SignedBy, hint)
}

// maxSigSize bounds a .sig2 file (an RSA signature: 512 bytes for Void's
// 4096-bit key).
const maxSigSize = 64 << 10

// fetchVoidPackages gets every package, verified against the index's
// sha256, and its signature (<file>.sig2), verified with the repository's
// trusted key, through artifact_mirror and the artifact cache. It returns
// the local file of each package by name.
func fetchVoidPackages(ctx context.Context, f *artifacts.Fetcher, base string, pkgs []*xbps.Package, key *xbps.RepoKey) (map[string]string, error) {
	arts := make([]artifacts.Artifact, 0, len(pkgs))
	for _, p := range pkgs {
		if p.SHA256 == "" {
			return nil, fmt.Errorf("package %s: the repository index records no filename-sha256", p.Pkgver)
		}
		arts = append(arts, artifacts.Artifact{Name: p.Pkgver, Kind: artifacts.File, File: p.FileName(), SHA256: p.SHA256, Origin: base})
	}
	results, err := f.FetchAll(ctx, arts, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch Void packages: %w", err)
	}
	out := make(map[string]string, len(results))
	for _, r := range results {
		name, _, _ := xbps.SplitPkgver(r.Artifact.Name)
		out[name] = r.Path
	}
	for _, p := range pkgs {
		if err := verifyVoidSignature(ctx, f, base, p, key); err != nil {
			return nil, fmt.Errorf("package %s: %w", p.Pkgver, err)
		}
	}
	return out, nil
}

func verifyVoidSignature(ctx context.Context, f *artifacts.Fetcher, base string, p *xbps.Package, key *xbps.RepoKey) error {
	r, err := f.FetchUnpinned(ctx, p.FileName()+".sig2", base)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if r.Size > maxSigSize {
		return fmt.Errorf("signature %s is %d bytes, not a signature", r.From, r.Size)
	}
	sig, err := os.ReadFile(r.Path)
	if err != nil {
		return err
	}
	sum, err := hex.DecodeString(p.SHA256)
	if err != nil {
		return fmt.Errorf("filename-sha256 %q in the index: %w", p.SHA256, err)
	}
	if err := key.VerifySignature(sum, sig); err != nil {
		return fmt.Errorf("%s: %w", r.From, err)
	}
	return nil
}

// readVoidPackages reads packages.void: one package name or pattern per
// line, '#' comments.
func readVoidPackages(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("no package list: pass packages.void")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("package list: %w", err)
	}
	names := linesOf(b)
	for _, n := range names {
		if strings.ContainsAny(n, "/\\\"'") || strings.HasPrefix(n, "-") {
			return nil, fmt.Errorf("%s: %q is not a package name or pattern", path, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no packages", path)
	}
	return names, nil
}
