package daemon

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/humanize"
	"banger/internal/names"
	"banger/internal/network"
	"banger/internal/store"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
)

// Limits of vm create; the defaults are api.Default*.
const (
	MinMemoryMiB = 128
	// overlaySize is the apparent size of the sparse per-VM system overlay;
	// only what the guest writes is allocated.
	overlaySize = 16 << 30
)

// CreateVM creates and boots a VM. Either it ends running (and, unless
// NoWait, answering ssh) or everything it built is removed again.
func (d *Daemon) CreateVM(ctx context.Context, req api.CreateVMRequest, p api.Progress) (api.VM, error) {
	start := time.Now()
	if req.MemoryMiB == 0 {
		req.MemoryMiB = api.DefaultMemoryMiB
	}
	if req.VCPUs == 0 {
		req.VCPUs = api.DefaultVCPUs
	}
	if req.DiskSize == 0 {
		req.DiskSize = api.DefaultDiskSize
	}
	if err := validateMachine(req.MemoryMiB, req.VCPUs); err != nil {
		return api.VM{}, err
	}
	if req.DiskSize < 0 {
		return api.VM{}, apierr.Invalid("disk size %d is negative: give a size such as 8G", req.DiskSize)
	}
	if req.Name != "" {
		if err := names.Validate(req.Name); err != nil {
			return api.VM{}, apierr.Invalid("%v", err)
		}
		if d.store.NameTaken(ctx, req.Name) {
			return api.VM{}, apierr.Conflict("pick another --name or delete the existing VM", "a vm named %q already exists", req.Name)
		}
	}
	imageRef := req.Image
	if imageRef == "" {
		imageRef = d.cfg.DefaultImage
		// Pick up a runtime bundle built or replaced since bangerd started.
		if err := d.registerDefaultImage(ctx); err != nil {
			d.log.Debug("default image not refreshed", "error", err)
		}
	}
	img, err := d.store.ResolveImage(ctx, imageRef)
	if err != nil {
		if req.Image == "" {
			return api.VM{}, apierr.New(api.CodeNotFound, err, "no default image: build the runtime bundle with `make runtime-bundle` (or set default_rootfs in config.toml), or pass --image")
		}
		return api.VM{}, apierr.New(api.CodeNotFound, err, "see `banger image list`")
	}
	if err := checkImageFiles(img, req.DiskSize); err != nil {
		return api.VM{}, err
	}
	drv, err := d.host.Driver(ctx)
	if err != nil {
		return api.VM{}, apierr.Unavailable("run `banger doctor`", "no usable VMM: %w", err)
	}
	if err := validateForDriver(drv, req.MemoryMiB, req.VCPUs); err != nil {
		return api.VM{}, err
	}
	name := req.Name
	switch {
	case name != "":
	case d.cfg.NamegenPath != "":
		if name, err = names.FromProgram(ctx, d.cfg.NamegenPath); err != nil {
			return api.VM{}, apierr.Invalid("%v", err)
		}
	default:
		name = names.Generate(func(s string) bool { return d.store.NameTaken(ctx, s) })
	}

	id := newID()
	v := &store.VM{
		ID: id, Name: name, State: api.StateCreating,
		VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, DiskSize: req.DiskSize, NAT: req.NAT,
		MAC: network.MACFromID(id).String(), VMM: drv.Name(), Accel: drv.Accel(), CreatedAt: time.Now(),
	}
	unlock := d.lockVM(id)
	defer unlock()
	if d.beforeImageClaim != nil {
		d.beforeImageClaim()
	}
	// The image's current version from here on: what was resolved above
	// may have been rebuilt or deleted meanwhile.
	if img, err = d.recordWithImage(ctx, v, img, req.DiskSize); err != nil {
		return api.VM{}, err
	}
	rootfs := v.Rootfs
	r := &revert{log: d.log}
	defer r.run(ctx)
	r.add("release image files", func(ctx context.Context) error { d.releaseImageFiles(ctx, rootfs); return nil })
	r.add("delete record", func(ctx context.Context) error { return d.store.DeleteVM(ctx, id) })
	r.add("report failure", func(context.Context) error {
		d.emit(api.EventCreateFailed, name, "create failed; the vm was removed")
		return nil
	})
	progressf(p, name, "record", "vm %s (%s) gets %s", name, id, v.IP)

	op := &vmOp{v: v, img: img, drv: drv, p: p}
	if err := d.prepareAll(ctx, op, r); err != nil {
		return api.VM{}, err
	}
	if err := d.attachAll(ctx, op, r); err != nil {
		return api.VM{}, err
	}
	if _, err := d.store.UpdateVM(ctx, id, func(s *store.VM) error {
		s.State, s.TAP, s.PID, s.PIDStart, s.VMM, s.Accel, s.StartedAt = v.State, v.TAP, v.PID, v.PIDStart, v.VMM, v.Accel, v.StartedAt
		return nil
	}); err != nil {
		return api.VM{}, err
	}
	d.log.Info("vm created", "vm", name, "id", id, "ip", v.IP.String(), "control_plane_ms", time.Since(start).Milliseconds())
	if !req.NoWait {
		if err := d.waitSSH(ctx, v, p); err != nil {
			if kept := d.keepFailureLog(v); kept != "" {
				err = fmt.Errorf("%w\nthe vm was removed; its console and %s logs are kept in %s", err, v.VMM, kept)
			}
			return api.VM{}, err
		}
	}
	r.success()
	d.emit(api.EventCreated, name, "")
	return d.toAPIVM(*v), nil
}

// prepareDisks writes the overlay (with the rendered guest config and a new
// agent token, whose host copy goes into the VM's directory) and the work
// disk. It returns the guest's public host key.
func (d *Daemon) prepareDisks(ctx context.Context, v *store.VM, img store.Image) (string, error) {
	dir := d.vmDir(v.ID)
	files, hostPub, err := d.guestIdentity(v)
	if err != nil {
		return "", err
	}
	if f, err := d.agentOverride(); err != nil {
		return "", err
	} else if f != nil {
		files = append(files, *f)
	}
	if err := disk.CreateOverlay(ctx, dir.Overlay(), overlaySize, files); err != nil {
		return "", err
	}
	if img.WorkSeed != "" {
		if err := disk.CloneSeed(ctx, img.WorkSeed, dir.WorkDisk()); err != nil {
			return "", fmt.Errorf("clone work seed: %w", err)
		}
		if size, err := disk.Size(dir.WorkDisk()); err == nil && size < v.DiskSize {
			if err := disk.Grow(ctx, dir.WorkDisk(), v.DiskSize); err != nil {
				return "", fmt.Errorf("grow work disk: %w", err)
			}
		}
	} else if err := disk.MakeWorkFromRootfs(ctx, img.Rootfs, dir.WorkDisk(), v.DiskSize); err != nil {
		return "", fmt.Errorf("build work disk from %s: %w", img.Rootfs, err)
	}
	return hostPub, nil
}

// guestIdentity renders v's guest files with a new host key and a new
// agent token (whose host copy goes into the VM's directory), and returns
// them with the public host key.
func (d *Daemon) guestIdentity(v *store.VM) ([]guestconfig.File, string, error) {
	pub, err := installationPublicKey(d.layout)
	if err != nil {
		return nil, "", err
	}
	hostKey, hostPub, err := guestconfig.NewHostKey()
	if err != nil {
		return nil, "", err
	}
	token, err := newAgentToken(d.vmDir(v.ID))
	if err != nil {
		return nil, "", err
	}
	gw := d.bridgeGateway()
	files, err := guestconfig.Render(guestconfig.Config{
		Hostname: v.Name, MAC: network.MACFromID(v.ID),
		Address: netip.PrefixFrom(v.IP, gw.Bits()), Gateway: gw.Addr(), DNS: hostResolvers(),
		AuthorizedKeys: []string{pub}, HostKey: hostKey, HostKeyPub: hostPub, AgentToken: token,
	})
	if err != nil {
		return nil, "", fmt.Errorf("render guest config: %w", err)
	}
	return files, hostPub, nil
}

// keepFailureLog copies the failed boot's logs (those that exist for the
// VM's VMM) next to the daemon log before the VM dir is removed, and
// returns where, so the error can point at it. Each log is already capped
// by the log pump; the copy keeps at most the last failureLogMax bytes of
// each all the same.
func (d *Daemon) keepFailureLog(v *store.VM) string {
	dir := d.vmDir(v.ID)
	out := filepath.Join(d.layout.StateDir, "failed-"+v.Name+"-"+v.ID+".log")
	var b strings.Builder
	for _, f := range bootlog.Files(dir, v.VMM, bootlog.Current(dir)) {
		fmt.Fprintf(&b, "=== %s ===\n%s\n", f, readTail(f, failureLogMax))
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		d.log.Error("keep failure log", "error", err)
		return ""
	}
	d.log.Error("vm failed to come up", "vm", v.Name, "log", out)
	return out
}

// validateMachine checks memory and vCPU counts against the host.
func validateMachine(memMiB, vcpus int) error {
	if memMiB < MinMemoryMiB {
		return apierr.Invalid("memory %s is below the minimum of %s", humanize.MiB(memMiB), humanize.MiB(MinMemoryMiB))
	}
	if total := hostMemoryMiB(); total > 0 && memMiB > total {
		return apierr.Invalid("memory %s is more than this host has (%s)", humanize.MiB(memMiB), humanize.MiB(total))
	}
	if vcpus < 1 {
		return apierr.Invalid("vcpu count %d is not allowed: use at least 1", vcpus)
	}
	if n := runtime.NumCPU(); vcpus > n {
		return apierr.Invalid("vcpu count %d is more than this host's %d CPUs", vcpus, n)
	}
	return nil
}

// validateForDriver applies the VMM's own limits on a VM's size, if it has
// any beyond the host's.
func validateForDriver(drv vmm.Driver, memMiB, vcpus int) error {
	if mv, ok := drv.(vmm.MachineValidator); ok {
		if err := mv.ValidateMachine(vcpus, memMiB); err != nil {
			return apierr.Invalid("%v", err)
		}
	}
	return nil
}

func hostMemoryMiB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			var kb int
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
			return kb / 1024
		}
	}
	return 0
}

// hostResolvers returns the host's non-loopback nameservers for guests.
func hostResolvers() []netip.Addr {
	var out []netip.Addr
	for _, f := range []string{"/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 2 && fields[0] == "nameserver" {
				if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() && !a.IsLoopback() {
					out = append(out, a)
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return out
}

func newID() string { return names.NewID() }

// failureLogMax bounds each log copied into a failed-<name>-<id>.log.
const failureLogMax = 256 << 10

// readTail returns at most the last limit bytes of path.
func readTail(path string, limit int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	start := max(0, st.Size()-limit)
	b, _ := io.ReadAll(io.NewSectionReader(f, start, st.Size()-start))
	return b
}
