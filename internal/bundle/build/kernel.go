package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/atomicfile"
	"banger/internal/buildlog"
	"banger/internal/bundle"
	"banger/internal/execx"
)

// kernelResult is what the kernel step leaves in the bundle.
type kernelResult struct {
	Release string // e.g. 6.1.0-56-cloud-amd64
	Package string // concrete package and version
}

// buildKernel downloads the kernel image package, unpacks it, writes the
// bzImage, the ELF vmlinux cut out of it and the modules tree (depmod run)
// into dest.
func buildKernel(ctx context.Context, r *buildlog.Reporter, apt *aptSource, meta, scratch, dest string) (*kernelResult, error) {
	var deb, name, version string
	err := r.Timed("resolve and download "+meta, func() error {
		var err error
		if name, version, err = apt.resolveKernel(ctx, meta); err != nil {
			return err
		}
		deb, err = apt.download(ctx, scratch, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	root := filepath.Join(scratch, "kernel")
	if err := r.Timed("unpack "+filepath.Base(deb), func() error {
		_, err := r.Run(ctx, execx.Cmd{Argv: []string{"dpkg-deb", "-x", deb, root}})
		return err
	}); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", deb, err)
	}
	bzPaths, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(bzPaths) != 1 {
		return nil, fmt.Errorf("%s: expected one boot/vmlinuz-*, found %d", name, len(bzPaths))
	}
	release := strings.TrimPrefix(filepath.Base(bzPaths[0]), "vmlinuz-")

	var elfBytes []byte
	if err := r.Timed("extract ELF vmlinux", func() error {
		bz, err := os.ReadFile(bzPaths[0])
		if err != nil {
			return err
		}
		if elfBytes, err = ExtractVMLinux(ctx, bz); err != nil {
			return err
		}
		r.Logf("vmlinux: %d bytes from a %d-byte bzImage", len(elfBytes), len(bz))
		if err := atomicfile.Copy(bzPaths[0], filepath.Join(dest, bundle.KernelImageName), 0o644); err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(dest, bundle.KernelELFName), elfBytes, 0o644)
	}); err != nil {
		return nil, err
	}

	if err := r.Timed("modules tree + depmod", func() error {
		return installModules(ctx, r, root, release, scratch, dest)
	}); err != nil {
		return nil, err
	}
	return &kernelResult{Release: release, Package: name + " " + version}, nil
}

// installModules moves the package's lib/modules/<release> (or the usrmerged
// usr/lib/modules/<release>) into a depmod base, runs depmod, and swaps the
// result in as dest/modules/<release>, replacing any other release.
func installModules(ctx context.Context, r *buildlog.Reporter, pkgRoot, release, scratch, dest string) error {
	var src string
	for _, c := range []string{"lib/modules", "usr/lib/modules"} {
		p := filepath.Join(pkgRoot, c, release)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			src = p
			break
		}
	}
	if src == "" {
		return fmt.Errorf("kernel package has no lib/modules/%s", release)
	}
	base := filepath.Join(scratch, "depmod")
	staged := filepath.Join(base, "lib", "modules", release)
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		return err
	}
	if err := os.Rename(src, staged); err != nil {
		return err
	}
	// build/source point at headers outside the tree; a bundle has no use
	// for them and the archive unpacker would reject absolute links.
	for _, l := range []string{"build", "source"} {
		os.Remove(filepath.Join(staged, l))
	}
	if _, err := r.Run(ctx, execx.Cmd{Argv: []string{tool("depmod"), "-b", base, release}}); err != nil {
		return fmt.Errorf("depmod (install kmod): %w", err)
	}
	modules := filepath.Join(dest, bundle.ModulesDirName)
	if err := os.MkdirAll(modules, 0o755); err != nil {
		return err
	}
	final := filepath.Join(modules, release)
	old := filepath.Join(scratch, "old-modules")
	if err := os.Rename(modules, old); err != nil {
		return err
	}
	if err := os.MkdirAll(modules, 0o755); err != nil {
		return err
	}
	return os.Rename(staged, final)
}
