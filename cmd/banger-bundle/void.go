package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/bundle/build"
	"banger/internal/config"
	"banger/internal/disk"
	"banger/internal/paths"
)

// cmdVoidRootfs builds the experimental Void Linux rootfs and work seed.
func cmdVoidRootfs(ctx context.Context, args []string) error {
	var mirror, size, out, packages, bundleDir, agent, logPath, artifactMirror string
	fs := flag.NewFlagSet("void-rootfs", flag.ContinueOnError)
	fs.StringVar(&mirror, "mirror", build.DefaultVoidMirror, "Void mirror root (http(s) URL, file:// URL or absolute directory holding current/)")
	fs.StringVar(&size, "size", "", "rootfs image size, e.g. 2G (default: content plus headroom)")
	fs.StringVar(&out, "out", "", "rootfs image to write (default: <bundle>/"+build.VoidRootfsName+"); the work seed goes beside it as NAME.work-seed.ext4")
	fs.StringVar(&packages, "packages", build.VoidPackagesName, "Void packages, one per line")
	fs.StringVar(&bundleDir, "bundle", "runtime", "runtime bundle whose kernel modules and guest agent are reused")
	fs.StringVar(&agent, "agent", "", "banger-vsock-agent binary (default: the bundle's)")
	fs.StringVar(&artifactMirror, "artifact-mirror", "", "artifact_mirror to try before the Void mirror (default: banger's config)")
	fs.StringVar(&logPath, "log", "", "build log file (default ~/.local/state/banger/image-build/void-rootfs-<time>.log)")
	var trust []string
	fs.Func("trust-key", "also trust packages signed with the repository key of this fingerprint (aa:bb:…, as xbps prints it; repeatable); "+
		"Void's official key "+strings.Join(build.DefaultVoidKeys, ", ")+" is always trusted", func(v string) error {
		trust = append(trust, v)
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	o := build.VoidOptions{TrustedKeys: append(append([]string{}, build.DefaultVoidKeys...), trust...), Mirror: mirror, Packages: packages, Bundle: bundleDir, Agent: agent, Out: out, Progress: os.Stdout}
	if size != "" {
		n, err := disk.ParseSize(size)
		if err != nil {
			return fmt.Errorf("--size: %w", err)
		}
		o.Size = n
	}
	l, err := paths.FromEnv()
	if err != nil {
		return err
	}
	o.CacheDir = l.ArtifactCacheDir()
	o.ArtifactMirror = artifactMirror
	if o.ArtifactMirror == "" {
		if c, err := config.Load(l.ConfigFile(), os.Environ()); err == nil {
			o.ArtifactMirror = c.ArtifactMirror
		}
	}
	logPath, logFile, err := openLog(logPath, "void-rootfs")
	if err != nil {
		return err
	}
	defer logFile.Close()
	o.Log = logFile
	dest := out
	if dest == "" {
		dest = filepath.Join(bundleDir, build.VoidRootfsName)
	}
	fmt.Printf("building the experimental Void rootfs %s from %s (full log: %s)\n", dest, mirror, logPath)
	start := time.Now()
	res, err := build.VoidRootfs(ctx, o)
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}
	if uid, gid, ok := sudoOwner(); ok {
		for _, p := range []string{res.Rootfs, res.WorkSeed} {
			os.Lchown(p, uid, gid)
		}
	}
	fmt.Printf("built %s and %s (%d packages, index from %s) in %s\n", res.Rootfs, res.WorkSeed,
		len(res.Packages), res.RepodataFrom, time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("package scripts: %d ran in a chroot", len(res.ScriptsRun))
	if len(res.ScriptsFailed) > 0 {
		fmt.Printf(", %d did not (those packages stay \"unpacked\": run `xbps-reconfigure -a` in the guest):\n", len(res.ScriptsFailed))
		for _, f := range res.ScriptsFailed {
			fmt.Printf("  %s\n", f)
		}
	} else {
		fmt.Println()
	}
	fmt.Printf("every package matched the index's sha256 and was signed with key %s (%s)\n", res.Key.Fingerprint, res.Key.SignedBy)
	return nil
}
