package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/forward"
	"banger/internal/sshconfig"
	"banger/internal/store"
)

// forwardTable holds the running listeners of every VM's forwards.
type forwardTable struct {
	mu      sync.Mutex
	running map[string]map[string]*forward.Listener // vm id → host addr:port
	errs    map[string]map[string]string            // why a recorded forward is not running
	auto    map[string]*autoLoop                    // vm id → --auto mirroring
	// listPorts replaces asking the guest agent for its ports (tests).
	listPorts func(ctx context.Context, v *store.VM) ([]int, error)
}

func hostKey(f api.Forward) string {
	return net.JoinHostPort(f.HostAddr, strconv.Itoa(f.HostPort))
}

// forwardCap: the VM's recorded forwards listen while it runs.
type forwardCap struct{ base }

func (forwardCap) name() string { return "forwards" }

func (c forwardCap) attach(_ context.Context, op *vmOp) error {
	c.d.startForwards(op.v)
	c.d.startAuto(op.v)
	return nil
}

func (c forwardCap) detach(_ context.Context, op *vmOp) error {
	c.d.stopAuto(op.v.ID)
	c.d.stopForwards(op.v.ID)
	return nil
}

func (c forwardCap) destroy(_ context.Context, op *vmOp) error {
	c.d.stopAuto(op.v.ID)
	c.d.stopForwards(op.v.ID)
	return nil
}

func (d *Daemon) readForwards(id string) ([]api.Forward, error) {
	b, err := os.ReadFile(d.vmDir(id).Forwards())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read forwards: %w", err)
	}
	var fs []api.Forward
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, fmt.Errorf("read forwards %s: %w", d.vmDir(id).Forwards(), err)
	}
	return fs, nil
}

func (d *Daemon) writeForwards(id string, fs []api.Forward) error {
	for i := range fs {
		fs[i].Active, fs[i].Error = false, ""
	}
	b, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		return err
	}
	return sshconfig.WriteFile(d.vmDir(id).Forwards(), b, 0o600)
}

// startForwards listens for every recorded forward of a running VM; a
// host port that cannot be bound is reported with the forward, not fatal.
func (d *Daemon) startForwards(v *store.VM) {
	fs, err := d.readForwards(v.ID)
	if err != nil {
		d.log.Warn("forwards", "vm", v.Name, "error", err)
		return
	}
	for _, f := range fs {
		if err := d.listenForward(v, f); err != nil {
			d.log.Warn("forward not re-established", "vm", v.Name, "forward", hostKey(f), "error", err)
		}
	}
}

func (d *Daemon) listenForward(v *store.VM, f api.Forward) error {
	t := &d.fwd
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running == nil {
		t.running, t.errs = map[string]map[string]*forward.Listener{}, map[string]map[string]string{}
	}
	if t.running[v.ID] == nil {
		t.running[v.ID], t.errs[v.ID] = map[string]*forward.Listener{}, map[string]string{}
	}
	k := hostKey(f)
	if _, ok := t.running[v.ID][k]; ok {
		return nil
	}
	l, err := forward.Listen(k, net.JoinHostPort(v.IP.String(), strconv.Itoa(f.GuestPort)), d.log)
	if err != nil {
		t.errs[v.ID][k] = err.Error()
		return err
	}
	delete(t.errs[v.ID], k)
	t.running[v.ID][k] = l
	return nil
}

func (d *Daemon) stopForward(id, k string) {
	t := &d.fwd
	t.mu.Lock()
	l := t.running[id][k]
	delete(t.running[id], k)
	delete(t.errs[id], k)
	t.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

func (d *Daemon) stopForwards(id string) {
	t := &d.fwd
	t.mu.Lock()
	ls := t.running[id]
	delete(t.running, id)
	delete(t.errs, id)
	t.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// startAllForwards re-establishes the forwards of VMs that run (after a
// daemon restart).
func (d *Daemon) startAllForwards(ctx context.Context) {
	vms, err := d.store.ListVMs(ctx)
	if err != nil {
		return
	}
	for i := range vms {
		if vms[i].State == api.StateRunning {
			d.startForwards(&vms[i])
			d.startAuto(&vms[i])
		}
	}
}

func (d *Daemon) closeAllForwards() {
	d.fwd.mu.Lock()
	ids := make([]string, 0, len(d.fwd.running)+len(d.fwd.auto))
	for id := range d.fwd.running {
		ids = append(ids, id)
	}
	for id := range d.fwd.auto {
		ids = append(ids, id)
	}
	d.fwd.mu.Unlock()
	for _, id := range ids {
		d.stopAuto(id)
		d.stopForwards(id)
	}
}

// withStatus fills Active and Error from the running listeners.
func (d *Daemon) withStatus(id string, fs []api.Forward) []api.Forward {
	d.fwd.mu.Lock()
	defer d.fwd.mu.Unlock()
	out := make([]api.Forward, len(fs))
	for i, f := range fs {
		_, f.Active = d.fwd.running[id][hostKey(f)]
		f.Error = d.fwd.errs[id][hostKey(f)]
		out[i] = f
	}
	return out
}

// ListForwards returns a VM's forwards, recorded and --auto, and
// whether each is listening.
func (d *Daemon) ListForwards(ctx context.Context, ref string) (api.ForwardList, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.ForwardList{}, err
	}
	fs, err := d.readForwards(v.ID)
	if err != nil {
		return api.ForwardList{}, err
	}
	out := append(d.withStatus(v.ID, fs), d.autoForwards(v.ID)...)
	if out == nil {
		out = []api.Forward{}
	}
	return api.ForwardList{Auto: d.autoEnabled(v.ID), Forwards: out}, nil
}

func validateForward(req *api.AddForwardRequest) error {
	if req.HostAddr == "" {
		req.HostAddr = "127.0.0.1"
	}
	a, err := netip.ParseAddr(req.HostAddr)
	if err != nil || !a.Is4() {
		return apierr.Invalid("host address %q is not an IPv4 address: give one such as 127.0.0.1", req.HostAddr)
	}
	req.HostAddr = a.String()
	if !a.IsLoopback() && !req.AnyAddress {
		return apierr.Invalid("host address %s is not a loopback address: it would open the guest port to the network; pass --any-address to mean it", req.HostAddr)
	}
	for what, p := range map[string]int{"host port": req.HostPort, "guest port": req.GuestPort} {
		if p < 1 || p > 65535 {
			return apierr.Invalid("%s %d is out of range: use 1-65535", what, p)
		}
	}
	return nil
}

// AddForward records a forward and, if the VM runs, listens for it at
// once; a host port that cannot be bound fails and records nothing.
func (d *Daemon) AddForward(ctx context.Context, ref string, req api.AddForwardRequest) (api.Forward, error) {
	if err := validateForward(&req); err != nil {
		return api.Forward{}, err
	}
	f := req.Forward
	var out api.Forward
	_, err := d.withVM(ctx, ref, func(v *store.VM) error {
		fs, err := d.readForwards(v.ID)
		if err != nil {
			return err
		}
		for _, old := range fs {
			if old.HostPort == f.HostPort && (old.HostAddr == f.HostAddr || old.HostAddr == "0.0.0.0" || f.HostAddr == "0.0.0.0") {
				return apierr.Conflict("remove it first with `banger vm forward --remove`", "vm %s already forwards %s to guest port %d", v.Name, hostKey(old), old.GuestPort)
			}
		}
		if v.State == api.StateRunning {
			if err := d.listenForward(v, f); err != nil {
				d.fwd.mu.Lock()
				delete(d.fwd.errs[v.ID], hostKey(f))
				d.fwd.mu.Unlock()
				return apierr.Conflict("pick another host port", "forward %s: %w", hostKey(f), err)
			}
		}
		if err := d.writeForwards(v.ID, append(fs, f)); err != nil {
			d.stopForward(v.ID, hostKey(f))
			return err
		}
		out = d.withStatus(v.ID, []api.Forward{f})[0]
		d.emit(api.EventForward, v.Name, fmt.Sprintf("added %s -> guest port %d", hostKey(f), f.GuestPort))
		return nil
	})
	return out, err
}

// RemoveForward stops and forgets the forward on hostAddr:hostPort.
func (d *Daemon) RemoveForward(ctx context.Context, ref, hostAddr string, hostPort int) (api.Forward, error) {
	if hostAddr == "" {
		hostAddr = "127.0.0.1"
	}
	var out api.Forward
	_, err := d.withVM(ctx, ref, func(v *store.VM) error {
		fs, err := d.readForwards(v.ID)
		if err != nil {
			return err
		}
		kept := fs[:0:0]
		for _, f := range fs {
			if f.HostAddr == hostAddr && f.HostPort == hostPort {
				out = f
				continue
			}
			kept = append(kept, f)
		}
		if out.HostPort == 0 {
			return apierr.New(api.CodeNotFound, fmt.Errorf("vm %s has no forward on %s", v.Name, net.JoinHostPort(hostAddr, strconv.Itoa(hostPort))), "list them with `banger vm forward "+v.Name+"`")
		}
		if err := d.writeForwards(v.ID, kept); err != nil {
			return err
		}
		d.stopForward(v.ID, hostKey(out))
		d.emit(api.EventForward, v.Name, fmt.Sprintf("removed %s", hostKey(out)))
		return nil
	})
	return out, err
}

// vmForwards is what vm show and vm list report: recorded and --auto
// forwards with their state.
func (d *Daemon) vmForwards(id string) []api.Forward {
	fs, _ := d.readForwards(id)
	return append(d.withStatus(id, fs), d.autoForwards(id)...)
}
