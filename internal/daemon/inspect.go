package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/names"
	"banger/internal/store"
)

// ListVMs returns every VM.
func (d *Daemon) ListVMs(ctx context.Context) ([]api.VM, error) {
	vms, err := d.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.VM, 0, len(vms))
	for _, v := range vms {
		out = append(out, d.toAPIVM(v))
	}
	return out, nil
}

// GetVM returns one VM.
func (d *Daemon) GetVM(ctx context.Context, ref string) (api.VM, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.VM{}, err
	}
	return d.toAPIVM(v), nil
}

// VMStats reports host-side figures of a VM and, when the agent answers,
// the guest's own.
func (d *Daemon) VMStats(ctx context.Context, ref string) (api.VMStats, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.VMStats{}, err
	}
	dir := d.vmDir(v.ID)
	st := api.VMStats{VM: v.Name, State: v.State}
	for _, u := range []struct {
		path string
		dst  *api.DiskUsage
	}{{dir.Overlay(), &st.Overlay}, {dir.WorkDisk(), &st.WorkDisk}} {
		size, used, err := disk.Usage(u.path)
		if err == nil {
			*u.dst = api.DiskUsage{Path: u.path, SizeBytes: size, UsedBytes: used}
		}
	}
	proc := procOf(&v)
	if !proc.Alive() {
		return st, nil
	}
	if !v.StartedAt.IsZero() {
		st.UptimeSeconds = time.Since(v.StartedAt).Seconds()
	}
	if cpu, err := processCPUSeconds(proc.PID); err == nil {
		st.VMMCPUSeconds = cpu
		if st.UptimeSeconds > 0 {
			st.VMMCPUPercent = 100 * cpu / st.UptimeSeconds
		}
	}
	st.VMMRSSBytes = processRSS(proc.PID)
	gs, err := d.agentStats(ctx, &v)
	if err != nil {
		st.GuestError = err.Error()
	} else {
		st.Guest = gs
	}
	return st, nil
}

// processCPUSeconds is utime+stime of pid.
func processCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

func processRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

// ListImages returns every image.
func (d *Daemon) ListImages(ctx context.Context) ([]api.Image, error) {
	d.registerDefaultImage(ctx) // a bundle built since start-up shows up
	ims, err := d.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Image, 0, len(ims))
	for _, im := range ims {
		out = append(out, toAPIImage(im))
	}
	return out, nil
}

// GetImage returns one image.
func (d *Daemon) GetImage(ctx context.Context, ref string) (api.Image, error) {
	im, err := d.store.ResolveImage(ctx, ref)
	if err != nil {
		return api.Image{}, err
	}
	return d.toAPIImageVersions(im), nil
}

// newImageRecord is the image req registers, with a new id; the boot
// artifacts req leaves unset (kernel, initrd, modules) are def's, the
// default image's.
func newImageRecord(req api.RegisterImageRequest, def store.Image) store.Image {
	im := store.Image{ID: newID(), Name: req.Name, Rootfs: req.Rootfs, WorkSeed: req.WorkSeed,
		Kernel: req.Kernel, Initrd: req.Initrd, ModulesDir: req.ModulesDir, Packages: req.Packages}
	if im.Kernel == "" {
		im.Kernel = def.Kernel
	}
	if im.Initrd == "" {
		im.Initrd = def.Initrd
	}
	if im.ModulesDir == "" {
		im.ModulesDir = def.ModulesDir
	}
	return im
}

// RegisterImage records (or updates in place) an unmanaged image.
func (d *Daemon) RegisterImage(ctx context.Context, req api.RegisterImageRequest) (api.Image, error) {
	if req.Managed {
		return d.registerBuiltImage(ctx, req)
	}
	if err := names.Validate(req.Name); err != nil {
		return api.Image{}, apierr.Invalid("image %v", err)
	}
	if existing, err := d.store.ResolveImage(ctx, req.Name); err == nil && existing.Managed && existing.Name == req.Name {
		return api.Image{}, apierr.Conflict("pick another --name", "image %s is managed by banger and cannot be replaced by a registration", req.Name)
	}
	def, _ := d.store.ResolveImage(ctx, d.cfg.DefaultImage)
	im := newImageRecord(req, def)
	if req.Rootfs == "" {
		return api.Image{}, apierr.Invalid("--rootfs is required")
	}
	for what, p := range map[string]*string{"rootfs": &im.Rootfs, "work seed": &im.WorkSeed, "kernel": &im.Kernel, "initrd": &im.Initrd, "modules dir": &im.ModulesDir, "packages file": &im.Packages} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return api.Image{}, apierr.Invalid("%s path %q: %v", what, *p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return api.Image{}, apierr.Invalid("%s %s does not exist", what, abs)
		}
		*p = abs
	}
	if ok, err := disk.IsExt4(im.Rootfs); err != nil || !ok {
		return api.Image{}, apierr.Invalid("rootfs %s is not an ext4 image", im.Rootfs)
	}
	if err := d.store.UpsertImage(ctx, &im); err != nil {
		return api.Image{}, err
	}
	return toAPIImage(im), nil
}

// DeleteImage removes an image record, and a built image's files unless
// VMs created from an older version still use them.
func (d *Daemon) DeleteImage(ctx context.Context, ref string) (api.Image, error) {
	// Under imageFilesMu: a vm create records its VM on the image's files
	// under it too, so it comes either before (and the delete is refused)
	// or after (and finds no image).
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	im, err := d.store.ResolveImage(ctx, ref)
	if err != nil {
		return api.Image{}, err
	}
	if err := d.checkImageDeletable(im); err != nil {
		return api.Image{}, err
	}
	if err := d.store.DeleteImage(ctx, im.ID); err != nil {
		return api.Image{}, err
	}
	d.releaseVersionLocked(ctx, im.Rootfs)
	return toAPIImage(im), nil
}
