package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/buildlog"
	"banger/internal/bundle"
	"banger/internal/disk"
	"banger/internal/execx"
	"banger/internal/image/imagebuild"
)

// indent prefixes every write with two spaces: the steps of a nested
// reporter (one line per write) under the step that runs them.
// rootfsSpec is the input of the rootfs step.
type rootfsSpec struct {
	Suite, Mirror string
	Packages      []string
	BaseRootfs    string // start from this ext4's content instead of mmdebstrap, then add Packages
	Release       string
	ModulesDir    string // the bundle's modules/<release>
	Scratch, Dest string
}

// buildRootfs makes rootfs-docker.ext4 and its work seed in Dest.
func buildRootfs(ctx context.Context, r *buildlog.Reporter, s rootfsSpec) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("building the rootfs needs root (mmdebstrap, chroot, file ownership): run it with sudo")
	}
	treeDir := filepath.Join(s.Scratch, "rootfs")
	if s.BaseRootfs != "" {
		if err := r.Timed("extract "+filepath.Base(s.BaseRootfs), func() error {
			return extractExt4(ctx, s.BaseRootfs, treeDir)
		}); err != nil {
			return err
		}
		// packages.apt on top of the base, as an image build installs
		// packages: resolved and downloaded on the host, installed from
		// those files in a chroot. Packages the base has are kept as they are.
		if s.Suite != imagebuild.Suite {
			return fmt.Errorf("--base-rootfs installs packages.apt from Debian %s, not --suite %s", imagebuild.Suite, s.Suite)
		}
		if err := imagebuild.InstallPackages(ctx, r.Nested(), treeDir, s.Packages, s.Mirror, filepath.Join(s.Scratch, "debs")); err != nil {
			return fmt.Errorf("apply %d packages to the base rootfs: %w", len(s.Packages), err)
		}
	} else {
		if err := r.Timed(fmt.Sprintf("mmdebstrap %s (%d packages)", s.Suite, len(s.Packages)), func() error {
			return mmdebstrap(ctx, r, s, treeDir)
		}); err != nil {
			return err
		}
	}
	tree := guestTree(treeDir)
	if err := r.Timed("customize", func() error {
		return customize(ctx, r, tree, s.Release, s.ModulesDir)
	}); err != nil {
		return err
	}

	content, entries, err := disk.TreeSize(treeDir)
	if err != nil {
		return err
	}
	size := disk.TreeImageSize(content)
	inodes := disk.TreeInodes(size, entries)
	if err := r.Timed(fmt.Sprintf("mkfs.ext4 rootfs (%d MiB content, %d MiB image)", content/mib, size/mib), func() error {
		return disk.MakeFromDir(ctx, r.Run, treeDir, filepath.Join(s.Dest, bundle.RootfsName), bundle.LabelRoot, size, inodes)
	}); err != nil {
		return err
	}
	rootHome, err := tree.resolve("/root", true)
	if err != nil {
		return err
	}
	if err := r.Timed("mkfs.ext4 work seed (/root)", func() error {
		return disk.MakeFromDir(ctx, r.Run, rootHome, filepath.Join(s.Dest, bundle.WorkSeedName), bundle.LabelWork, WorkSeedSize, 0)
	}); err != nil {
		return err
	}
	return nil
}

func mmdebstrap(ctx context.Context, r *buildlog.Reporter, s rootfsSpec, treeDir string) error {
	if _, err := execx.LookPath("mmdebstrap"); err != nil {
		return fmt.Errorf("mmdebstrap is needed to build the rootfs (apt-get install mmdebstrap): %w", err)
	}
	logFile := filepath.Join(s.Scratch, "mmdebstrap.log")
	argv := []string{"mmdebstrap", "--variant=minbase", "--mode=root", "--format=directory",
		"--include=" + strings.Join(s.Packages, ","),
		"--dpkgopt=force-unsafe-io", // removed from the image by customize
		"--logfile=" + logFile}
	argv = append(argv, aptProxyOptions(ctx)...)
	argv = append(argv, s.Suite, treeDir)
	if s.Mirror != "" {
		argv = append(argv, s.Mirror)
	}
	// Not cancelled with the build: killing mmdebstrap would leave its
	// chroot mounts behind. On Ctrl-C it gets SIGINT from the terminal too
	// and cleans up itself.
	_, err := r.Run(context.WithoutCancel(ctx), execx.Cmd{Argv: argv})
	if b, rerr := os.ReadFile(logFile); rerr == nil {
		r.Logf("--- mmdebstrap log ---\n%s--- end of mmdebstrap log ---", b)
	}
	if err != nil {
		return fmt.Errorf("mmdebstrap: %w", err)
	}
	return nil
}

// extractExt4 copies an ext4 image's content into dir without mounting
// it. The base rootfs is user input and this runs as root, so the copy is
// disk.ExtractDir's, which follows no link the image plants (debugfs rdump
// would write through one onto the host).
func extractExt4(ctx context.Context, image, dir string) error {
	if _, err := bundle.Ext4Label(image); err != nil {
		return fmt.Errorf("base rootfs %s: %w", image, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := disk.ExtractDir(ctx, image, "/", dir); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, "lost+found"))
}
