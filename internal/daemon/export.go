package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/store"
)

// ExportVM copies a stopped VM's disks for `banger image save`: its
// overlay and work disk (reflinked where the file system allows, else
// sparse copies) with their journals replayed, and a hard link to its
// lower layer, in a new directory under the images directory that the
// caller removes. The VM's lock is held for the copy, so it cannot start
// meanwhile, and the link keeps the lower layer even if the VM is deleted
// before the save is done. The VM's own disks are not written.
func (d *Daemon) ExportVM(ctx context.Context, ref string) (api.VMExport, error) {
	var out api.VMExport
	_, err := d.withVM(ctx, ref, func(v *store.VM) error {
		ctx := context.WithoutCancel(ctx)
		switch {
		case v.State == api.StateSuspended:
			return apierr.Conflict("stop it first with `banger vm stop "+v.Name+"` (this discards its saved memory)", "vm %s is suspended: only a stopped vm can be saved as an image", v.Name)
		case v.State != api.StateStopped || procOf(v).Alive():
			return apierr.Conflict("stop it first with `banger vm stop "+v.Name+"`", "vm %s is %s: only a stopped vm can be saved as an image", v.Name, v.State)
		}
		x, err := d.exportLocked(ctx, v)
		out = x
		return err
	})
	return out, err
}

func (d *Daemon) exportLocked(ctx context.Context, v *store.VM) (_ api.VMExport, err error) {
	if err := os.MkdirAll(d.layout.ImagesDir(), 0o755); err != nil {
		return api.VMExport{}, err
	}
	dir, err := os.MkdirTemp(d.layout.ImagesDir(), ".export-")
	if err != nil {
		return api.VMExport{}, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	x := api.VMExport{
		Dir: dir, Rootfs: filepath.Join(dir, "rootfs.ext4"),
		Overlay: filepath.Join(dir, "overlay.ext4"), WorkDisk: filepath.Join(dir, "work.ext4"),
		Image: v.ImageName,
	}
	if err := os.Link(v.Rootfs, x.Rootfs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return api.VMExport{}, apierr.Invalid("vm %s: its base rootfs %s is gone", v.Name, v.Rootfs)
		}
		if err := disk.CloneFile(ctx, v.Rootfs, x.Rootfs); err != nil {
			return api.VMExport{}, err
		}
	}
	vd := d.vmDir(v.ID)
	for _, f := range [][2]string{{vd.Overlay(), x.Overlay}, {vd.WorkDisk(), x.WorkDisk}} {
		if err := disk.CloneFile(ctx, f[0], f[1]); err != nil {
			return api.VMExport{}, fmt.Errorf("export vm %s: %w", v.Name, err)
		}
		if err := disk.ReplayJournal(ctx, f[1]); err != nil {
			return api.VMExport{}, fmt.Errorf("export vm %s: %w", v.Name, err)
		}
	}
	d.log.Info("vm exported", "vm", v.Name, "dir", dir)
	return x, nil
}
