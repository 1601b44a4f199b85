package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"banger/internal/buildlog"
	"banger/internal/disk"
	"banger/internal/execx"
	"banger/internal/guestconfig"
	"banger/internal/image/artifacts"
)

// SaveOptions is one `banger image save`: a stopped VM's disks (copies the
// daemon made for it) turned into a managed image.
type SaveOptions struct {
	BaseRootfs string    // the VM's lower layer
	Overlay    string    // its overlay disk (overlayfs upper layer in /upper)
	WorkDisk   string    // its /root
	Versions   []string  // the source image's version record, refreshed for packages
	Size       int64     // rootfs image size; 0 = content plus headroom
	OutDir     string    // version directory to create; must not exist
	Progress   io.Writer `json:"-"`
	Log        io.Writer `json:"-"`
}

// Save writes the merged root a VM saw (base rootfs + overlay upper layer,
// /root from its work disk) into o.OutDir as a rootfs and work seed, the
// same way Build writes a built image. The VM's identity (guest-config
// files, machine id, host keys, random seed, journal) and its scratch
// (/tmp, /run, Docker's data on the overlay disk) are not carried over: a
// VM of the new image gets its own. On failure nothing is left behind.
func Save(ctx context.Context, o SaveOptions) (_ *Result, err error) {
	r := buildlog.New(o.Progress, o.Log)
	if os.Geteuid() != 0 {
		return nil, errors.New("image save needs root (file owners in the image): run it with sudo")
	}
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := execx.LookPath(tool); err != nil {
			return nil, fmt.Errorf("image save needs %s on the host: %w", tool, err)
		}
	}
	for _, p := range []string{o.BaseRootfs, o.Overlay, o.WorkDisk} {
		if ok, err := disk.IsExt4(p); err != nil || !ok {
			return nil, fmt.Errorf("%s is not an ext4 image", p)
		}
	}
	tree, out, done, err := newScratch(r, o.OutDir)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := r.Timed("extract base "+filepath.Base(o.BaseRootfs), func() error {
		return extractBase(ctx, o.BaseRootfs, "", tree)
	}); err != nil {
		return nil, err
	}
	if err := r.Timed("apply the VM's changes (overlay)", func() error {
		return disk.MergeUpper(ctx, o.Overlay, tree, notSaved)
	}); err != nil {
		return nil, err
	}
	if err := r.Timed("/root from the work disk", func() error {
		home := filepath.Join(tree, "root")
		if err := os.RemoveAll(home); err != nil {
			return err
		}
		if err := disk.ExtractDir(ctx, o.WorkDisk, "/", home); err != nil {
			return err
		}
		return os.RemoveAll(filepath.Join(home, "lost+found"))
	}); err != nil {
		return nil, err
	}
	versions := refreshVersions(ctx, r, tree, o.Versions)
	return writeImage(ctx, r, tree, out, o.OutDir, o.Size, versions)
}

// notSaved reports the upper-layer paths a saved image leaves out: one
// VM's identity and scratch. /root is the work disk's; Docker's data lives
// on the overlay disk beside the upper layer and is not carried either.
func notSaved(p string) bool {
	if slices.Contains(guestconfig.PerVMPaths(), p) {
		return true
	}
	switch p {
	case "/root", "/var/lib/dbus/machine-id", "/var/lib/systemd/random-seed", "/var/lib/systemd/credential.secret":
		return true
	}
	if strings.HasPrefix(p, "/etc/ssh/ssh_host_") {
		return true
	}
	for _, dir := range []string{"/tmp/", "/run/", "/var/log/journal/", "/var/lib/docker/"} {
		if strings.HasPrefix(p, dir) {
			return true
		}
	}
	return false
}

// refreshVersions updates a version record ("name version" lines) to the
// saved tree: package lines get the version the tree's dpkg database has
// installed now, packages no longer installed go, and the pinned tools'
// lines stay as recorded.
func refreshVersions(ctx context.Context, r *buildlog.Reporter, tree string, versions []string) []string {
	if len(versions) == 0 {
		return nil
	}
	out, err := r.Run(ctx, execx.Cmd{Argv: []string{"dpkg-query", "--admindir=" + filepath.Join(tree, "var/lib/dpkg"),
		"-W", "-f", "${Package} ${Version} ${db:Status-Status}\n"}})
	if err != nil {
		r.Logf("versions kept as recorded: %v", err)
		return versions
	}
	return applyInstalled(versions, string(out))
}

// applyInstalled is refreshVersions on dpkg-query's "name version status"
// lines.
func applyInstalled(versions []string, dpkg string) []string {
	installed := map[string]string{}
	for _, l := range strings.Split(dpkg, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "installed" {
			installed[f[0]] = f[1]
		}
	}
	tools := map[string]bool{}
	for _, a := range artifacts.Pinned() {
		tools[a.Name] = true
	}
	res := make([]string, 0, len(versions))
	for _, l := range versions {
		name, _, _ := strings.Cut(l, " ")
		switch v, ok := installed[name]; {
		case ok:
			res = append(res, name+" "+v)
		case tools[name]:
			res = append(res, l)
		}
	}
	slices.Sort(res)
	return res
}
