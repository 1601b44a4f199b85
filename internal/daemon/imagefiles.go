package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"banger/internal/agent/agentproto"
	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/guestconfig"
	"banger/internal/names"
	"banger/internal/store"
)

// Managed images built by `banger image build` live in versioned
// directories, layout.ImagesDir()/<name>/<version>/. A rebuild registers a
// new version under the same image; VMs keep the rootfs path they were
// created with (store.VM.Rootfs), so a version directory is removed only
// when neither the image record nor any VM refers to its rootfs.

// imageFilesMu serialises registering, deleting and releasing versions.
var imageFilesMu sync.Mutex

const (
	builtRootfsName   = "rootfs.ext4"
	builtWorkSeedName = "work-seed.ext4"
	builtVersionsName = "versions.txt"
)

// builtVersionDir returns the version directory holding rootfs when it is
// a built image's rootfs, else "".
func (d *Daemon) builtVersionDir(rootfs string) string {
	if rootfs == "" || filepath.Base(rootfs) != builtRootfsName {
		return ""
	}
	dir := filepath.Dir(rootfs)
	rel, err := filepath.Rel(d.layout.ImagesDir(), dir)
	if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
		return ""
	}
	return dir
}

// registerBuiltImage records a version directory made by the image build
// as the managed image req.Name (a new image, or a new version of a built
// one), then drops the previous version's files unless a VM uses them.
func (d *Daemon) registerBuiltImage(ctx context.Context, req api.RegisterImageRequest) (api.Image, error) {
	if err := names.Validate(req.Name); err != nil {
		return api.Image{}, apierr.Invalid("image %v", err)
	}
	dir := d.builtVersionDir(req.Rootfs)
	if dir == "" || filepath.Base(filepath.Dir(dir)) != req.Name {
		return api.Image{}, apierr.Invalid("managed image %s: rootfs %s is not a build of it under %s", req.Name, req.Rootfs, d.layout.ImagesDir())
	}
	if req.WorkSeed != filepath.Join(dir, builtWorkSeedName) {
		return api.Image{}, apierr.Invalid("managed image %s: work seed %s is not beside its rootfs", req.Name, req.WorkSeed)
	}
	for _, p := range []string{req.Rootfs, req.WorkSeed} {
		if _, err := os.Stat(p); err != nil {
			return api.Image{}, apierr.Invalid("managed image %s: %s does not exist", req.Name, p)
		}
	}
	init, err := registrationInit(ctx, req.Init, req.Rootfs)
	if err != nil {
		return api.Image{}, err
	}
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	existing, err := d.store.ResolveImage(ctx, req.Name)
	exists := err == nil && existing.Name == req.Name
	if exists && (!existing.Managed || d.builtVersionDir(existing.Rootfs) == "") {
		return api.Image{}, apierr.Conflict("pick another --name", "image %s exists and was not built by `banger image build`; not replacing it", req.Name)
	}
	def, _ := d.store.ResolveImage(ctx, d.cfg.DefaultImage)
	im := store.Image{ID: newID(), Name: req.Name, Managed: true, Rootfs: req.Rootfs, WorkSeed: req.WorkSeed,
		Kernel: req.Kernel, Initrd: req.Initrd, ModulesDir: req.ModulesDir, Packages: req.Packages, Init: init}
	if im.Kernel == "" {
		im.Kernel = def.Kernel
	}
	if im.Initrd == "" {
		im.Initrd = def.Initrd
	}
	if im.ModulesDir == "" {
		im.ModulesDir = def.ModulesDir
	}
	if err := d.store.UpsertImage(ctx, &im); err != nil {
		return api.Image{}, err
	}
	if exists && existing.Rootfs != im.Rootfs {
		d.releaseVersionLocked(ctx, existing.Rootfs)
	}
	return d.toAPIImageVersions(im), nil
}

// releaseImageFiles removes rootfs's version directory when it belongs to
// a built image and nothing refers to it any more (called after a VM or an
// image record is deleted).
func (d *Daemon) releaseImageFiles(ctx context.Context, rootfs string) {
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	d.releaseVersionLocked(ctx, rootfs)
}

func (d *Daemon) releaseVersionLocked(ctx context.Context, rootfs string) {
	dir := d.builtVersionDir(rootfs)
	if dir == "" {
		return
	}
	ims, err := d.store.ListImages(ctx)
	if err != nil {
		return
	}
	for _, im := range ims {
		if im.Rootfs == rootfs {
			return
		}
	}
	vms, err := d.store.ListVMs(ctx)
	if err != nil {
		return
	}
	for _, v := range vms {
		if v.Rootfs == rootfs {
			return
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		d.log.Warn("remove image version", "dir", dir, "error", err)
		return
	}
	d.log.Info("removed image version", "dir", dir)
	os.Remove(filepath.Dir(dir)) // the name's directory, when it was the last version
}

// checkImageDeletable refuses the bundle's default image.
func (d *Daemon) checkImageDeletable(im store.Image) error {
	if im.Name == d.cfg.DefaultImage && d.builtVersionDir(im.Rootfs) == "" {
		return apierr.Conflict("it is registered from the runtime bundle (or the default_* config keys) and comes back on the next start; build or register another image instead",
			"image %s is the default image and cannot be deleted", im.Name)
	}
	return nil
}

// toAPIImageVersions is toAPIImage plus the recorded package and tool
// versions of a built image.
func (d *Daemon) toAPIImageVersions(im store.Image) api.Image {
	out := toAPIImage(im)
	dir := d.builtVersionDir(im.Rootfs)
	if dir == "" {
		return out
	}
	f, err := os.Open(filepath.Join(dir, builtVersionsName))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out.Versions) < 10000 {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out.Versions = append(out.Versions, l)
		}
	}
	return out
}

// agentOverride is vsock_agent_path as a file of each new VM's overlay, so
// a new agent can be tried without rebuilding an image (nil when unset).
func (d *Daemon) agentOverride() (*guestconfig.File, error) {
	if d.cfg.VsockAgentPath == "" {
		return nil, nil
	}
	b, err := os.ReadFile(d.cfg.VsockAgentPath)
	if err != nil {
		return nil, apierr.Invalid("vsock_agent_path: %v", err)
	}
	return &guestconfig.File{Path: agentGuestPath, Mode: 0o755, Content: b}, nil
}

const agentGuestPath = agentproto.BinaryPath

// pinImageFiles gives a new VM of a bundle (or default_*) image hard links
// of the image's rootfs, kernel and initrd under
// ImagesDir/<name>/bundle-<key>/, key naming the files' current versions.
// A rebuilt bundle is written to new files renamed into place, so the links
// keep the lower layer and kernel of existing VMs as they were; the
// directory goes with the last VM using it. Built images are versioned
// already. Where a link is impossible (another filesystem) the VM uses the
// files in place.
func (d *Daemon) pinImageFiles(img store.Image) (rootfs, kernel, initrd string) {
	rootfs, kernel, initrd = img.Rootfs, img.Kernel, img.Initrd
	if !img.Managed || d.builtVersionDir(img.Rootfs) != "" || names.Validate(img.Name) != nil {
		return
	}
	h := sha256.New()
	for _, p := range []string{img.Rootfs, img.Kernel, img.Initrd} {
		st, err := os.Stat(p)
		if err != nil {
			return
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if sys == nil {
			return
		}
		fmt.Fprintf(h, "%s %d %d %d %d\n", p, sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano())
	}
	parent := filepath.Join(d.layout.ImagesDir(), img.Name)
	dir := filepath.Join(parent, "bundle-"+hex.EncodeToString(h.Sum(nil))[:16])
	pinned := [3]string{filepath.Join(dir, builtRootfsName), filepath.Join(dir, "kernel"), filepath.Join(dir, "initrd")}
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	if _, err := os.Stat(pinned[0]); err == nil {
		return pinned[0], pinned[1], pinned[2]
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return
	}
	tmp, err := os.MkdirTemp(parent, ".pin-")
	if err != nil {
		return
	}
	for i, src := range []string{img.Rootfs, img.Kernel, img.Initrd} {
		if err := os.Link(src, filepath.Join(tmp, filepath.Base(pinned[i]))); err != nil {
			d.log.Debug("image files used in place", "image", img.Name, "error", err)
			os.RemoveAll(tmp)
			os.Remove(parent)
			return
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return
	}
	return pinned[0], pinned[1], pinned[2]
}
