package build

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/bundle"
	"banger/internal/execx"
)

// rootfsSpec is the input of the rootfs step.
type rootfsSpec struct {
	Suite, Mirror string
	Packages      []string
	BaseRootfs    string // start from this ext4's content instead of mmdebstrap
	Release       string
	ModulesDir    string // the bundle's modules/<release>
	Scratch, Dest string
}

// buildRootfs makes rootfs-docker.ext4 and its work seed in Dest.
func buildRootfs(ctx context.Context, r *reporter, s rootfsSpec) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("building the rootfs needs root (mmdebstrap, chroot, file ownership): run it with sudo")
	}
	treeDir := filepath.Join(s.Scratch, "rootfs")
	if s.BaseRootfs != "" {
		if err := r.timed("extract "+filepath.Base(s.BaseRootfs)+" (debugfs rdump)", func() error {
			return extractExt4(ctx, r, s.BaseRootfs, treeDir)
		}); err != nil {
			return err
		}
	} else {
		if err := r.timed(fmt.Sprintf("mmdebstrap %s (%d packages)", s.Suite, len(s.Packages)), func() error {
			return mmdebstrap(ctx, r, s, treeDir)
		}); err != nil {
			return err
		}
	}
	tree := guestTree(treeDir)
	if err := r.timed("customize", func() error {
		return customize(ctx, r, tree, s.Release, s.ModulesDir)
	}); err != nil {
		return err
	}

	content, entries, err := dirSize(treeDir)
	if err != nil {
		return err
	}
	size := rootfsImageSize(content)
	// Default ext4 density is one inode per 16 KiB; make sure the tree fits
	// with room for packages installed later.
	inodes := int64(0)
	if need := entries*2 + 16384; need > size/16384 {
		inodes = need
	}
	if err := r.timed(fmt.Sprintf("mkfs.ext4 rootfs (%d MiB content, %d MiB image)", content/mib, size/mib), func() error {
		return mkfsFromDir(ctx, r, treeDir, filepath.Join(s.Dest, bundle.RootfsName), bundle.LabelRoot, size, inodes)
	}); err != nil {
		return err
	}
	rootHome, err := tree.resolve("/root", true)
	if err != nil {
		return err
	}
	if err := r.timed("mkfs.ext4 work seed (/root)", func() error {
		return mkfsFromDir(ctx, r, rootHome, filepath.Join(s.Dest, bundle.WorkSeedName), bundle.LabelWork, WorkSeedSize, 0)
	}); err != nil {
		return err
	}
	return nil
}

func mmdebstrap(ctx context.Context, r *reporter, s rootfsSpec, treeDir string) error {
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
	_, err := r.run(context.WithoutCancel(ctx), execx.Cmd{Argv: argv})
	if b, rerr := os.ReadFile(logFile); rerr == nil {
		r.logf("--- mmdebstrap log ---\n%s--- end of mmdebstrap log ---", b)
	}
	if err != nil {
		return fmt.Errorf("mmdebstrap: %w", err)
	}
	return nil
}

// extractExt4 copies an ext4 image's content into dir without mounting it.
func extractExt4(ctx context.Context, r *reporter, image, dir string) error {
	if _, err := bundle.Ext4Label(image); err != nil {
		return fmt.Errorf("base rootfs %s: %w", image, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := r.run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-R", "rdump / " + dir, image}}); err != nil {
		return fmt.Errorf("debugfs rdump %s: %w", image, err)
	}
	os.Remove(filepath.Join(dir, "lost+found"))
	return restoreSpecialBits(ctx, r, image, dir)
}

// restoreSpecialBits puts back setuid/setgid bits that rdump loses (it
// chowns after chmod, and chown clears them): one debugfs run lists every
// directory of the image, and files whose image mode has them are chmodded.
// Extended attributes (file capabilities) are not restored.
func restoreSpecialBits(ctx context.Context, r *reporter, image, dir string) error {
	var script strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			rel = ""
		}
		if strings.ContainsAny(rel, "\"\n") {
			return nil
		}
		fmt.Fprintf(&script, "ls -l \"/%s\"\n", filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	scriptFile := filepath.Join(filepath.Dir(dir), "modes.debugfs")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o644); err != nil {
		return err
	}
	out, err := execx.Run(ctx, tool("debugfs"), "-f", scriptFile, image)
	if err != nil {
		return fmt.Errorf("debugfs ls %s: %w", image, err)
	}
	fixed := 0
	for _, f := range specialModeFiles(string(out)) {
		if err := os.Chmod(filepath.Join(dir, f.path), f.mode); err != nil {
			return fmt.Errorf("restore mode of %s: %w", f.path, err)
		}
		fixed++
	}
	r.logf("restored setuid/setgid bits on %d files", fixed)
	return nil
}

type modeFix struct {
	path string
	mode fs.FileMode
}

// specialModeFiles parses "debugfs -f" output of "ls -l DIR" commands and
// returns the regular files with setuid or setgid bits.
func specialModeFiles(out string) []modeFix {
	var fixes []modeFix
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "debugfs: ls -l "); ok {
			cur = strings.Trim(rest, `"`)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 9 || f[2] != "(1)" {
			continue
		}
		mode, err := strconv.ParseUint(f[1], 8, 32)
		if err != nil || mode&0o170000 != 0o100000 || mode&0o6000 == 0 {
			continue
		}
		fm := fs.FileMode(mode & 0o777)
		if mode&0o4000 != 0 {
			fm |= fs.ModeSetuid
		}
		if mode&0o2000 != 0 {
			fm |= fs.ModeSetgid
		}
		fixes = append(fixes, modeFix{path: path.Join(cur, strings.Join(f[8:], " ")), mode: fm})
	}
	return fixes
}
