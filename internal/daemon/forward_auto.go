package daemon

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/store"
)

// autoPoll is how often --auto asks the guest agent for its listeners.
const autoPoll = 2 * time.Second

// autoMinPort: --auto leaves out privileged ports (and 22, which is ssh).
const autoMinPort = 1024

// autoLoop mirrors one running VM's guest listeners onto 127.0.0.1.
type autoLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	ls     map[int]*forward.Listener
	errs   map[int]string // a host port that was taken, reported once
}

// guestTCPPorts lists the guest's host-reachable TCP listening ports
// through its agent (tests replace it).
func (d *Daemon) guestTCPPorts(ctx context.Context, v *store.VM) ([]int, error) {
	if d.fwd.listPorts != nil {
		return d.fwd.listPorts(ctx, v)
	}
	c, err := d.agentFor(v)
	if err != nil {
		return nil, err
	}
	ls, err := c.Ports(ctx)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, l := range ls {
		if l.Proto == "tcp" && !isLoopback(l.Address) {
			out = append(out, l.Port)
		}
	}
	return out, nil
}

func (d *Daemon) autoEnabled(id string) bool {
	_, err := os.Stat(d.vmDir(id).AutoForward())
	return err == nil
}

// startAuto starts mirroring for a running VM with --auto on.
func (d *Daemon) startAuto(v *store.VM) {
	if !d.autoEnabled(v.ID) {
		return
	}
	t := &d.fwd
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.auto == nil {
		t.auto = map[string]*autoLoop{}
	}
	if t.auto[v.ID] != nil {
		return
	}
	ctx, cancel := context.WithCancel(d.bgCtx)
	a := &autoLoop{cancel: cancel, done: make(chan struct{}), ls: map[int]*forward.Listener{}, errs: map[int]string{}}
	t.auto[v.ID] = a
	vm := *v
	go func() {
		defer close(a.done)
		tick := time.NewTicker(autoPoll)
		defer tick.Stop()
		for {
			d.autoSync(ctx, &vm, a)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// autoSync makes the listeners match the guest's current ports.
func (d *Daemon) autoSync(ctx context.Context, v *store.VM, a *autoLoop) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ports, err := d.guestTCPPorts(qctx, v)
	cancel()
	if err != nil || ctx.Err() != nil {
		return // booting, or going away: keep what there is
	}
	explicit := map[int]bool{}
	if fs, err := d.readForwards(v.ID); err == nil {
		for _, f := range fs {
			explicit[f.HostPort] = true
		}
	}
	want := map[int]bool{}
	for _, p := range ports {
		if p >= autoMinPort && p != 22 && !explicit[p] {
			want[p] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, l := range a.ls {
		if !want[p] {
			l.Close()
			delete(a.ls, p)
		}
	}
	for p := range a.errs {
		if !want[p] {
			delete(a.errs, p) // retried if the guest listens again
		}
	}
	for p := range want {
		if a.ls[p] != nil || a.errs[p] != "" {
			continue
		}
		l, err := forward.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), net.JoinHostPort(v.IP.String(), strconv.Itoa(p)), d.log)
		if err != nil {
			a.errs[p] = err.Error()
			d.log.Warn("auto forward: host port taken", "vm", v.Name, "port", p, "error", err)
			continue
		}
		a.ls[p] = l
		d.emit(api.EventForward, v.Name, "auto "+strconv.Itoa(p)+" -> guest port "+strconv.Itoa(p))
	}
}

func (d *Daemon) stopAuto(id string) {
	t := &d.fwd
	t.mu.Lock()
	a := t.auto[id]
	delete(t.auto, id)
	t.mu.Unlock()
	if a == nil {
		return
	}
	a.cancel()
	<-a.done
	a.mu.Lock()
	for p, l := range a.ls {
		l.Close()
		delete(a.ls, p)
	}
	a.mu.Unlock()
}

// autoForwards lists the mirrored ports of a VM.
func (d *Daemon) autoForwards(id string) []api.Forward {
	d.fwd.mu.Lock()
	a := d.fwd.auto[id]
	d.fwd.mu.Unlock()
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []api.Forward
	for p := range a.ls {
		out = append(out, api.Forward{HostAddr: "127.0.0.1", HostPort: p, GuestPort: p, Active: true, Auto: true})
	}
	for p, e := range a.errs {
		out = append(out, api.Forward{HostAddr: "127.0.0.1", HostPort: p, GuestPort: p, Auto: true, Error: e})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostPort < out[j].HostPort })
	return out
}

// SetAutoForward turns mirroring of the guest's listeners on or off.
func (d *Daemon) SetAutoForward(ctx context.Context, ref string, on bool) (api.ForwardList, error) {
	var id string
	_, err := d.withVM(ctx, ref, func(v *store.VM) error {
		id = v.ID
		marker := d.vmDir(v.ID).AutoForward()
		if !on {
			d.stopAuto(v.ID)
			if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			d.emit(api.EventForward, v.Name, "auto off")
			return nil
		}
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
		if v.State == api.StateRunning {
			d.startAuto(v)
		}
		d.emit(api.EventForward, v.Name, "auto on")
		return nil
	})
	if err != nil {
		return api.ForwardList{}, err
	}
	return d.ListForwards(ctx, id)
}
