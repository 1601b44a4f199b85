package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/bundle"
	"banger/internal/config"
	"banger/internal/knownhosts"
	"banger/internal/paths"
	"banger/internal/store"
)

// Daemon implements the API service. It owns the store and the in-memory
// state of running VMs (locks, agent attachments) and serialises work per VM.
type Daemon struct {
	opts    Options
	layout  paths.Layout
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	host    Host
	started time.Time
	stop    context.CancelFunc
	bgCtx   context.Context // lives as long as the daemon

	runtimeDir    string
	runtimeSource paths.RuntimeSource

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	attachMu sync.Mutex
	attached map[string]attachment // vm id → host-side VMM helpers

	events *hub
	wg     sync.WaitGroup

	knownHosts *knownhosts.File // banger's known_hosts, one line per VM
	fwd        forwardTable     // running localhost forwards

	// beforeImageClaim, when set (tests), runs in vm create between
	// resolving the image and recording the VM on its files.
	beforeImageClaim func()
}

// New opens the state and reconciles it with reality. cancel stops the
// daemon (used by the shutdown endpoint).
func New(ctx context.Context, opts Options, log *slog.Logger, cancel context.CancelFunc) (*Daemon, error) {
	st, err := store.Open(ctx, opts.Layout.DBFile())
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opts: opts, layout: opts.Layout, cfg: opts.Config, log: log, store: st,
		started: time.Now(), stop: cancel, bgCtx: ctx,
		locks: map[string]*sync.Mutex{}, attached: map[string]attachment{},
		events: newHub(), knownHosts: knownhosts.New(opts.Layout.KnownHosts()),
	}
	d.runtimeDir, d.runtimeSource = paths.ResolveRuntimeDir(opts.Exe, opts.Config.RuntimeDir)
	host := opts.Host
	if host == nil {
		host, err = newSystemHost(ctx, d)
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	d.host = host
	if err := ensureSSHKey(ctx, d.layout); err != nil {
		log.Warn("ssh key", "error", err)
	}
	if err := d.registerDefaultImage(ctx); err != nil {
		log.Warn("default image not registered", "error", err)
	}
	if err := d.reconcile(ctx); err != nil {
		log.Error("reconcile", "error", err)
	}
	if err := d.writeSSHConfig(ctx, ""); err != nil {
		log.Warn("ssh config", "error", err)
	}
	d.startAllForwards(ctx)
	d.wg.Add(1)
	go d.supervise(ctx)
	return d, nil
}

// Close releases in-memory helpers; VMs keep running.
func (d *Daemon) Close() {
	d.stop()
	d.wg.Wait()
	d.closeAllForwards()
	d.attachMu.Lock()
	for id, a := range d.attached {
		a.Close()
		delete(d.attached, id)
	}
	d.attachMu.Unlock()
	d.host.Close()
	d.store.Close()
}

// RequestShutdown stops the daemon (not the VMs) after the reply is sent.
func (d *Daemon) RequestShutdown() {
	go func() {
		time.Sleep(50 * time.Millisecond)
		d.stop()
	}()
}

// DNSAddr is the address the .vm DNS server listens on.
func (d *Daemon) DNSAddr() string { return d.host.DNSAddr() }

// Status reports the daemon.
func (d *Daemon) Status(ctx context.Context) api.DaemonStatus {
	st := api.DaemonStatus{
		PID: os.Getpid(), Version: d.opts.Version, Socket: d.layout.Socket(), LogPath: d.layout.LogFile(),
		DNSListen: d.host.DNSAddr(), DNSError: d.host.DNSError(), StartedAt: d.started,
		UptimeSeconds: time.Since(d.started).Seconds(), StateDir: d.layout.StateDir,
		RuntimeBundle: d.runtimeDir, VMM: d.host.VMMName(), Accel: d.host.AccelName(),
	}
	if vms, err := d.store.ListVMs(ctx); err == nil {
		st.VMs = len(vms)
		for _, v := range vms {
			if v.State == api.StateRunning {
				st.Running++
			}
		}
	}
	return st
}

// lockVM serialises operations on one VM.
func (d *Daemon) lockVM(id string) func() {
	d.locksMu.Lock()
	m, ok := d.locks[id]
	if !ok {
		m = &sync.Mutex{}
		d.locks[id] = m
	}
	d.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// registerDefaultImage records the runtime bundle's rootfs (or the
// default_* config keys) as the managed image named by default_image.
func (d *Daemon) registerDefaultImage(ctx context.Context) error {
	im := store.Image{Name: d.cfg.DefaultImage, Managed: true}
	if meta, err := bundle.Load(d.runtimeDir); err == nil {
		im.Rootfs = bundle.Path(d.runtimeDir, meta.Rootfs)
		im.WorkSeed = bundle.Path(d.runtimeDir, meta.WorkSeed)
		im.Kernel = bundle.Path(d.runtimeDir, meta.KernelELF)
		im.Initrd = bundle.Path(d.runtimeDir, meta.Initrd)
		im.ModulesDir = bundle.Path(d.runtimeDir, meta.ModulesDir)
		im.Packages = bundle.Path(d.runtimeDir, meta.Packages)
	}
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&im.Rootfs, d.cfg.DefaultRootfs)
	override(&im.WorkSeed, d.cfg.DefaultWorkSeed)
	override(&im.Kernel, d.cfg.DefaultKernel)
	override(&im.Initrd, d.cfg.DefaultInitrd)
	override(&im.ModulesDir, d.cfg.DefaultModulesDir)
	override(&im.Packages, d.cfg.DefaultPackagesFile)
	if im.Rootfs == "" {
		return fmt.Errorf("no runtime bundle at %s and no default_rootfs configured", d.runtimeDir)
	}
	if _, err := os.Stat(im.Rootfs); err != nil {
		return fmt.Errorf("default rootfs: %w", err)
	}
	if im.WorkSeed != "" {
		if _, err := os.Stat(im.WorkSeed); err != nil {
			im.WorkSeed = ""
		}
	}
	if existing, err := d.store.ResolveImage(ctx, im.Name); err == nil {
		if !existing.Managed {
			return fmt.Errorf("an unmanaged image is already named %q; not replacing it", im.Name)
		}
		// Called on every create that uses the default image: write only
		// when the bundle changed.
		if sameArtifacts(existing, im) {
			return nil
		}
	}
	im.ID = newID()
	return d.store.UpsertImage(ctx, &im)
}

func sameArtifacts(a, b store.Image) bool {
	return a.Rootfs == b.Rootfs && a.WorkSeed == b.WorkSeed && a.Kernel == b.Kernel &&
		a.Initrd == b.Initrd && a.ModulesDir == b.ModulesDir && a.Packages == b.Packages
}

func toAPIImage(im store.Image) api.Image {
	return api.Image{ID: im.ID, Name: im.Name, Managed: im.Managed, Rootfs: im.Rootfs, WorkSeed: im.WorkSeed,
		Kernel: im.Kernel, Initrd: im.Initrd, ModulesDir: im.ModulesDir, Packages: im.Packages,
		CreatedAt: im.CreatedAt, UpdatedAt: im.UpdatedAt}
}

func (d *Daemon) toAPIVM(v store.VM) api.VM {
	out := api.VM{ID: v.ID, Name: v.Name, State: v.State, Image: v.ImageName, VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB,
		DiskSize: v.DiskSize, NAT: v.NAT, IP: v.IP.String(), MAC: v.MAC, TAP: v.TAP, VMM: v.VMM, Accel: v.Accel,
		PID: v.PID, Dir: d.layout.VM(v.ID).String(), DNSName: v.Name + ".vm", CreatedAt: v.CreatedAt, LastError: v.LastError}
	out.Forwards = d.vmForwards(v.ID)
	if !v.StartedAt.IsZero() && v.State == api.StateRunning {
		t := v.StartedAt
		out.StartedAt = &t
	}
	return out
}

// bridgeGateway is the host's address on the bridge.
func (d *Daemon) bridgeGateway() netip.Prefix {
	p := d.cfg.BridgePrefix()
	return netip.PrefixFrom(p.Addr().Next(), p.Bits())
}
