package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"banger/internal/network"
	"banger/internal/network/nat"
	"banger/internal/network/tappool"
	"banger/internal/privileged"
	"banger/internal/vmm"
	"banger/internal/vmm/bootlog"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
	"banger/internal/vmm/resolve"
)

// systemHost is the real machine integration: drivers chosen by `vmm`,
// bridge/TAP/NAT through the privileged package, and the .vm DNS server.
type systemHost struct {
	d     *Daemon
	ops   privileged.Ops
	owner network.Owner // this installation, on every TAP and rule
	dns   dnsServer

	mu       sync.Mutex // network state and the resolved choice (read by status)
	netReady bool
	pool     *tappool.Pool
	choice   string // driver for new VMs, once resolved
	accel    string

	// drvMu serialises driver resolution, which may boot the KVM probe
	// (seconds); it is separate from mu so status never waits for it.
	drvMu   sync.Mutex
	drivers map[string]vmm.Driver
	probe   *qemu.ProbeResult
	// kvmDevice is what the Firecracker host check opens; empty means
	// /dev/kvm (tests point it elsewhere).
	kvmDevice string
}

// dnsServer is the part of the DNS server the daemon uses.
type dnsServer interface {
	Set(name string, addr netip.Addr)
	Delete(name string)
	Addr() string
	Err() string
	Close() error
}

func newSystemHost(ctx context.Context, d *Daemon) (*systemHost, error) {
	owner, err := installationOwner(d.layout.InstallationFile())
	if err != nil {
		return nil, err
	}
	// Refuse to start beside another installation that is using the same
	// bridge: both would hand out the same addresses. Reading links needs
	// no privilege.
	if err := network.CheckBridgeFree(d.cfg.BridgeName, owner); err != nil {
		return nil, err
	}
	ops, err := privileged.New(d.cfg.HelperPath)
	if err != nil {
		return nil, err
	}
	h := &systemHost{d: d, ops: ops, owner: owner, drivers: map[string]vmm.Driver{}}
	h.dns = startDNS(ctx, d)
	return h, nil
}

// probeKernel is the kernel the KVM probe boots: the default image's.
func (h *systemHost) probeKernel(ctx context.Context) string {
	if im, err := h.d.store.ResolveImage(ctx, h.d.cfg.DefaultImage); err == nil {
		return im.Kernel
	}
	return ""
}

// kvmProbe runs (or reads the cached) KVM boot probe once per daemon.
// Callers hold drvMu.
func (h *systemHost) kvmProbe(ctx context.Context) qemu.ProbeResult {
	if h.probe == nil {
		kernel := h.probeKernel(ctx)
		var r qemu.ProbeResult
		if kernel == "" {
			r = qemu.ProbeResult{Accel: "tcg", Reason: "no kernel to probe KVM with (no default image)"}
		} else {
			r = qemu.ProbeKVM(ctx, qemu.ProbeOptions{Binary: h.d.cfg.QemuBin, Kernel: kernel, CacheFile: h.d.layout.ProbeCacheFile(), Logger: h.d.log})
		}
		h.d.log.Info("kvm probe", "usable", r.Usable, "accel", r.Accel, "reason", r.Reason)
		h.probe = &r
	}
	return *h.probe
}

// Driver returns the driver new VMs use.
func (h *systemHost) Driver(ctx context.Context) (vmm.Driver, error) {
	h.drvMu.Lock()
	defer h.drvMu.Unlock()
	h.mu.Lock()
	choice := h.choice
	h.mu.Unlock()
	if choice == "" {
		var err error
		if choice, err = h.choose(ctx); err != nil {
			return nil, err
		}
	}
	drv, err := h.driverLocked(ctx, choice)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.choice, h.accel = choice, drv.Accel()
	h.mu.Unlock()
	return drv, nil
}

// choose applies `vmm` through the one resolver doctor uses too.
func (h *systemHost) choose(ctx context.Context) (string, error) {
	c, err := resolve.Resolve(ctx, h.resolveInputs())
	if err != nil {
		return "", err
	}
	if c.VMM == "qemu" && c.Firecracker != "" && c.FirecrackerErr != nil {
		h.d.log.Warn("firecracker cannot be used, using qemu", "binary", c.Firecracker, "version", c.FirecrackerVersion.String(), "error", c.FirecrackerErr)
	}
	return c.VMM, nil
}

func (h *systemHost) resolveInputs() resolve.Inputs {
	cfg := h.d.cfg
	return resolve.Inputs{
		VMM: cfg.VMM, FirecrackerBin: cfg.FirecrackerBin, QemuBin: cfg.QemuBin,
		RuntimeDir: h.d.runtimeDir, KVMDevice: h.kvmDevice, Probe: h.kvmProbe,
	}
}

// DriverByName returns the driver a VM was created with.
func (h *systemHost) DriverByName(ctx context.Context, name string) (vmm.Driver, error) {
	h.drvMu.Lock()
	defer h.drvMu.Unlock()
	return h.driverLocked(ctx, name)
}

func (h *systemHost) driverLocked(ctx context.Context, name string) (vmm.Driver, error) {
	if drv, ok := h.drivers[name]; ok {
		return drv, nil
	}
	var drv vmm.Driver
	switch name {
	case "firecracker":
		bin := resolve.FirecrackerBinary(h.d.cfg.FirecrackerBin, h.d.runtimeDir)
		if bin == "" {
			return nil, errors.New("no firecracker binary")
		}
		drv = firecracker.New(firecracker.Options{Binary: bin, Logger: h.d.log, LogPump: h.logPump()})
	case "qemu":
		drv = qemu.New(qemu.Options{Binary: h.d.cfg.QemuBin, Accel: h.kvmProbe(ctx).Accel, Logger: h.d.log, HaveVhostVsock: qemu.DetectVhostVsock(), LogPump: h.logPump()})
	default:
		return nil, fmt.Errorf("unknown vmm %q", name)
	}
	h.drivers[name] = drv
	return drv, nil
}

// logPump runs the per-boot log pump from bangerd's own binary; without a
// known binary the drivers refuse to start VMs rather than log unbounded.
func (h *systemHost) logPump() bootlog.Pump {
	if h.d.opts.Exe == "" {
		return bootlog.Pump{}
	}
	return bootlog.Pump{Argv: []string{h.d.opts.Exe, bootlog.Subcommand}}
}

// EnsureNetwork creates the bridge and starts the TAP pool, once.
func (h *systemHost) EnsureNetwork(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.netReady {
		return nil
	}
	cfg := h.d.cfg
	if err := h.ops.EnsureBridge(ctx, cfg.BridgeName, h.d.bridgeGateway(), h.owner, cfg.GuestHostAccess); err != nil {
		return fmt.Errorf("bridge %s: %w", cfg.BridgeName, err)
	}
	pool, err := tappool.New(h.poolOptions())
	if err != nil {
		return err
	}
	pool.Start()
	h.pool, h.netReady = pool, true
	return nil
}

func (h *systemHost) poolOptions() tappool.Options {
	cfg := h.d.cfg
	return tappool.Options{Ops: h.ops, Size: cfg.TapPoolSize, Owner: h.owner, GID: os.Getgid(), Bridge: cfg.BridgeName, Logger: h.d.log}
}

// TakeTAP takes a TAP from the pool and binds it to the guest's MAC and
// address (anti-spoofing), so it is never handed out unbound.
func (h *systemHost) TakeTAP(ctx context.Context, mac net.HardwareAddr, ip netip.Addr) (string, error) {
	if err := h.EnsureNetwork(ctx); err != nil {
		return "", err
	}
	tap, err := h.pool.Take(ctx)
	if err != nil {
		return "", err
	}
	if err := h.ops.BindTAP(ctx, tap, h.owner, mac, ip); err != nil {
		if rerr := h.pool.Release(context.WithoutCancel(ctx), tap); rerr != nil {
			h.d.log.Warn("release tap after a failed bind", "tap", tap, "error", rerr)
		}
		return "", fmt.Errorf("bind tap %s to %s: %w", tap, ip, err)
	}
	return tap, nil
}

func (h *systemHost) ReleaseTAP(ctx context.Context, name string) error {
	h.mu.Lock()
	pool := h.pool
	h.mu.Unlock()
	if pool == nil {
		return h.ops.DeleteTAP(ctx, name, h.owner)
	}
	return pool.Release(ctx, name)
}

func (h *systemHost) ApplyNAT(ctx context.Context, vmID string, ip netip.Addr, tap string) error {
	return h.ops.ApplyNAT(ctx, nat.Rule{Owner: h.owner, VMID: vmID, GuestIP: ip, TAP: tap, Bridge: h.d.cfg.BridgeName})
}

func (h *systemHost) RemoveNAT(ctx context.Context, vmID string) error {
	return h.ops.RemoveNAT(ctx, h.owner, vmID)
}

// ReconcileNetwork deletes this installation's TAPs and NAT rules that no
// running VM owns: leftovers of a crash (idle pool TAPs, a create cut
// short). Other installations' and other users' objects are never looked
// at twice. It only reads the host's links and rules unless something is
// left over, and touches nothing when banger has never set up networking
// here.
func (h *systemHost) ReconcileNetwork(ctx context.Context, tapsInUse, natVMs map[string]bool) error {
	var errs []error
	leftover, err := tappool.Leftovers(h.poolOptions(), tapsInUse)
	if err != nil {
		errs = append(errs, err)
	}
	if len(leftover) > 0 || len(tapsInUse) > 0 {
		if err := h.EnsureNetwork(ctx); err != nil {
			return err
		}
		errs = append(errs, h.pool.Cleanup(ctx, tapsInUse))
	}
	// Listing rules needs root; without it, only try when VMs show that
	// privileged operations were set up.
	if os.Geteuid() == 0 || len(tapsInUse) > 0 {
		var keep []string
		for id := range natVMs {
			keep = append(keep, id)
		}
		errs = append(errs, h.ops.ReconcileNAT(ctx, h.owner, keep))
	}
	return errors.Join(errs...)
}

func (h *systemHost) SetDNS(name string, ip netip.Addr) { h.dns.Set(name, ip) }
func (h *systemHost) DeleteDNS(name string)             { h.dns.Delete(name) }
func (h *systemHost) DNSAddr() string                   { return h.dns.Addr() }
func (h *systemHost) DNSError() string                  { return h.dns.Err() }

func (h *systemHost) VMMName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.choice
}

func (h *systemHost) AccelName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accel
}

// Close deletes idle pooled TAPs and stops DNS. Running VMs keep theirs.
func (h *systemHost) Close() {
	h.mu.Lock()
	pool := h.pool
	h.mu.Unlock()
	if pool != nil {
		pool.Close(context.Background())
	}
	h.dns.Close()
}
