package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"banger/internal/agent"
	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/humanize"
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
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	existing, err := d.store.ResolveImage(ctx, req.Name)
	exists := err == nil && existing.Name == req.Name
	if exists && (!existing.Managed || d.builtVersionDir(existing.Rootfs) == "") {
		return api.Image{}, apierr.Conflict("pick another --name", "image %s exists and was not built by `banger image build`; not replacing it", req.Name)
	}
	def, _ := d.store.ResolveImage(ctx, d.cfg.DefaultImage)
	im := newImageRecord(req, def)
	im.Managed = true
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
	return &guestconfig.File{Path: agent.BinaryPath, Mode: 0o755, Content: b}, nil
}

// checkImageFiles refuses an image whose files are missing, or whose work
// seed is larger than the disk asked for.
func checkImageFiles(img store.Image, diskSize int64) error {
	for what, path := range map[string]string{"rootfs": img.Rootfs, "kernel": img.Kernel, "initrd": img.Initrd, "work seed": img.WorkSeed} {
		if path == "" {
			if what == "work seed" {
				continue
			}
			return apierr.Invalid("image %s has no %s", img.Name, what)
		}
		if _, err := os.Stat(path); err != nil {
			return apierr.Invalid("image %s: %s %s does not exist", img.Name, what, path)
		}
	}
	if img.WorkSeed != "" {
		seedSize, err := disk.Size(img.WorkSeed)
		if err != nil {
			return err
		}
		if diskSize < seedSize {
			return apierr.Invalid("disk size %s is smaller than image %s's work seed (%s): use at least %s", humanize.Bytes(diskSize), img.Name, humanize.Bytes(seedSize), humanize.Bytes(seedSize))
		}
	}
	return nil
}

// recordWithImage records the new VM v on the current version of img, in
// one step under imageFilesMu: a rebuild, an image delete or the release
// of a version running at the same time either comes first (v gets the
// new version, or a clear error) or sees v's record (and keeps the files
// v uses). It returns the image with the paths v uses (pinned, for a
// bundle image).
func (d *Daemon) recordWithImage(ctx context.Context, v *store.VM, img store.Image, diskSize int64) (store.Image, error) {
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	cur, err := d.store.ResolveImage(ctx, img.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Image{}, apierr.New(api.CodeNotFound, fmt.Errorf("image %s was deleted while the vm was being created", img.Name), "see `banger image list`")
		}
		return store.Image{}, err
	}
	if err := checkImageFiles(cur, diskSize); err != nil {
		return store.Image{}, err
	}
	cur = d.pinImageFilesLocked(cur)
	v.ImageID, v.ImageName, v.Rootfs, v.Kernel, v.Initrd = cur.ID, cur.Name, cur.Rootfs, cur.Kernel, cur.Initrd
	if err := d.store.CreateVM(ctx, v, d.cfg.BridgePrefix()); err != nil {
		return store.Image{}, err
	}
	return cur, nil
}

// pinImageFilesLocked gives a new VM of a bundle (or default_*) image hard
// links of the image's rootfs, kernel, initrd and work seed under
// ImagesDir/<name>/bundle-<key>/, key naming the files' current versions,
// and returns the image with those paths. A rebuilt bundle is written to
// new files renamed into place, so the links keep the lower layer, kernel
// and seed of existing VMs as they were; the directory goes with the last
// VM using it. Built images are versioned already. Where a link is
// impossible (another filesystem) the VM uses the files in place. The
// caller holds imageFilesMu.
func (d *Daemon) pinImageFilesLocked(img store.Image) store.Image {
	if !img.Managed || d.builtVersionDir(img.Rootfs) != "" || names.Validate(img.Name) != nil {
		return img
	}
	srcs := []string{img.Rootfs, img.Kernel, img.Initrd}
	if img.WorkSeed != "" {
		srcs = append(srcs, img.WorkSeed)
	}
	h := sha256.New()
	for _, p := range srcs {
		st, err := os.Stat(p)
		if err != nil {
			return img
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if sys == nil {
			return img
		}
		fmt.Fprintf(h, "%s %d %d %d %d\n", p, sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano())
	}
	parent := filepath.Join(d.layout.ImagesDir(), img.Name)
	dir := filepath.Join(parent, "bundle-"+hex.EncodeToString(h.Sum(nil))[:16])
	files := []string{builtRootfsName, "kernel", "initrd", builtWorkSeedName}[:len(srcs)]
	pinned := img
	pinned.Rootfs, pinned.Kernel, pinned.Initrd = filepath.Join(dir, files[0]), filepath.Join(dir, files[1]), filepath.Join(dir, files[2])
	if img.WorkSeed != "" {
		pinned.WorkSeed = filepath.Join(dir, files[3])
	}
	if _, err := os.Stat(pinned.Rootfs); err == nil {
		return pinned
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return img
	}
	tmp, err := os.MkdirTemp(parent, ".pin-")
	if err != nil {
		return img
	}
	for i, src := range srcs {
		if err := os.Link(src, filepath.Join(tmp, files[i])); err != nil {
			d.log.Debug("image files used in place", "image", img.Name, "error", err)
			os.RemoveAll(tmp)
			os.Remove(parent)
			return img
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return img
	}
	return pinned
}
