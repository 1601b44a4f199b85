package imagebuild

import (
	"context"
	"fmt"
	"os"

	"banger/internal/buildlog"
)

// InstallPackages installs pkgs and what they need into the Debian root
// tree at dir, the way Build does: resolved on the host against the tree's
// own dpkg status, the missing closure downloaded into cacheDir (private
// apt state, kept for the next run; mirror "" = DefaultMirror), then
// installed by the tree's apt-get in a chroot from those local files only.
// Services do not start in the chroot, and what only the install needed is
// removed again. It runs as root. The bundle build uses it for
// `banger-bundle rootfs --base-rootfs`.
func InstallPackages(ctx context.Context, r *buildlog.Reporter, dir string, pkgs []string, mirror, cacheDir string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("installing packages into %s needs root (chroot, file owners)", dir)
	}
	if len(pkgs) == 0 {
		return nil
	}
	var debs []string
	if err := r.Timed(fmt.Sprintf("debian packages (%d requested)", len(pkgs)), func() error {
		var err error
		debs, err = fetchDebs(ctx, r, Options{Packages: pkgs, DebianMirror: mirror, DebCacheDir: cacheDir}, dir)
		return err
	}); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the image tree: %w", err)
	}
	defer root.Close()
	p := &prov{r: r, dir: dir, root: root}
	defer p.cleanup()
	if err := r.Timed("prepare chroot", p.prepare); err != nil {
		return err
	}
	if err := r.Timed(fmt.Sprintf("install packages (%d debs)", len(debs)), func() error { return p.installDebs(ctx, debs) }); err != nil {
		return err
	}
	return p.cleanup()
}
