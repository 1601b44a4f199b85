package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/names"
	"banger/internal/network"
	"banger/internal/store"
)

// CloneVM makes a new, stopped VM from a stopped one's disks: the overlay
// and work disk are copied (reflinked where the file system allows), and
// the clone gets its own id, MAC, address, hostname, machine id, SSH host
// key and agent token, written into its overlay before its first boot.
// The source's lock is held for the copy, so it cannot start meanwhile.
func (d *Daemon) CloneVM(ctx context.Context, ref string, req api.CloneVMRequest, p api.Progress) (api.VM, error) {
	start := time.Now()
	if req.Name == "" {
		return api.VM{}, apierr.Invalid("a clone needs a name: give --name")
	}
	if err := names.Validate(req.Name); err != nil {
		return api.VM{}, apierr.Invalid("%v", err)
	}
	if d.store.NameTaken(ctx, req.Name) {
		return api.VM{}, apierr.Conflict("pick another --name or delete the existing VM", "a vm named %q already exists", req.Name)
	}
	var out api.VM
	_, err := d.withVM(ctx, ref, func(src *store.VM) error {
		ctx := context.WithoutCancel(ctx)
		switch {
		case src.State == api.StateSuspended:
			return apierr.Conflict("stop it first with `banger vm stop "+src.Name+"` (this discards its saved memory)", "vm %s is suspended: only a stopped vm can be cloned", src.Name)
		case src.State != api.StateStopped || procOf(src).Alive():
			return apierr.Conflict("stop it first with `banger vm stop "+src.Name+"`", "vm %s is %s: only a stopped vm can be cloned", src.Name, src.State)
		}
		v, err := d.cloneLocked(ctx, src, req.Name, p)
		if err != nil {
			return err
		}
		d.log.Info("vm cloned", "vm", v.Name, "from", src.Name, "ms", time.Since(start).Milliseconds())
		out = d.toAPIVM(*v)
		return nil
	})
	return out, err
}

func (d *Daemon) cloneLocked(ctx context.Context, src *store.VM, name string, p api.Progress) (*store.VM, error) {
	id := newID()
	v := &store.VM{
		ID: id, Name: name, State: api.StateCreating, ImageID: src.ImageID, ImageName: src.ImageName,
		VCPUs: src.VCPUs, MemoryMiB: src.MemoryMiB, DiskSize: src.DiskSize, NAT: src.NAT,
		MAC: network.MACFromID(id).String(), VMM: src.VMM, Accel: src.Accel,
		Kernel: src.Kernel, Initrd: src.Initrd, Rootfs: src.Rootfs, CreatedAt: time.Now(),
	}
	unlock := d.lockVM(id)
	defer unlock()
	if err := d.store.CreateVM(ctx, v, d.cfg.BridgePrefix()); err != nil {
		return nil, err
	}
	r := &revert{log: d.log}
	defer r.run(ctx)
	r.add("delete record", func(ctx context.Context) error { return d.store.DeleteVM(ctx, id) })
	progressf(p, name, "record", "vm %s (%s) gets %s", name, id, v.IP)

	dir := d.vmDir(id)
	if err := os.MkdirAll(dir.String(), 0o700); err != nil {
		return nil, fmt.Errorf("create vm dir: %w", err)
	}
	r.add("remove vm dir", func(context.Context) error { return os.RemoveAll(dir.String()) })
	progressf(p, name, "disks", "copying the disks of %s", src.Name)
	srcDir := d.vmDir(src.ID)
	for _, f := range [][2]string{{srcDir.Overlay(), dir.Overlay()}, {srcDir.WorkDisk(), dir.WorkDisk()}} {
		if err := disk.CloneFile(ctx, f[0], f[1]); err != nil {
			return nil, err
		}
	}
	init, err := d.vmInit(ctx, src)
	if err != nil {
		return nil, err
	}
	files, hostPub, err := d.guestIdentity(v, init)
	if err != nil {
		return nil, err
	}
	machineID, err := guestconfig.NewMachineID()
	if err != nil {
		return nil, err
	}
	files = append(files, guestconfig.MachineIDFile(machineID))
	if err := disk.WriteFiles(ctx, dir.Overlay(), disk.UpperDir, files); err != nil {
		return nil, fmt.Errorf("write identity of vm %s: %w", name, err)
	}
	if err := d.knownHosts.Add(id, hostPub); err != nil {
		return nil, err
	}
	r.add("remove known host", func(context.Context) error { return d.knownHosts.Remove(id) })
	d.host.SetDNS(name, v.IP)
	v.State = api.StateStopped
	if err := d.save(ctx, v); err != nil {
		return nil, err
	}
	r.success()
	d.emit(api.EventCreated, name, "cloned from "+src.Name)
	return v, nil
}
