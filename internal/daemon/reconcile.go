package daemon

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/store"
	"banger/internal/vmm"
)

// reconcile makes the records match reality after a (re)start: VMs whose
// VMM still runs are re-adopted, dead ones are marked stopped, VMs caught
// half-created by a crash are removed entirely, and TAPs or NAT rules that no
// VM owns are deleted.
func (d *Daemon) reconcile(ctx context.Context) error {
	vms, err := d.store.ListVMs(ctx)
	if err != nil {
		return err
	}
	taps, nat := map[string]bool{}, map[string]bool{}
	for i := range vms {
		v := &vms[i]
		unlock := d.lockVM(v.ID)
		switch v.State {
		case api.StateCreating:
			d.log.Warn("removing vm left half-created by a crash", "vm", v.Name, "id", v.ID)
			d.killLeftover(ctx, v)
			d.detachAll(ctx, v)
			if err := d.destroy(ctx, v); err != nil {
				d.log.Error("remove half-created vm", "vm", v.Name, "error", err)
			}
		case api.StateRunning:
			if procOf(v).Alive() {
				if err := d.adopt(ctx, v); err == nil {
					taps[v.TAP] = true
					if v.NAT {
						nat[v.ID] = true
					}
					d.host.SetDNS(v.Name, v.IP)
					break
				} else {
					d.log.Error("re-adopt vm", "vm", v.Name, "error", err)
				}
			}
			d.log.Warn("vmm of running vm is gone; marking it stopped", "vm", v.Name, "pid", v.PID)
			d.detachAll(ctx, v)
			v.State, v.LastError = api.StateStopped, "vmm exited while bangerd was not running"
			d.save(ctx, v)
			d.host.SetDNS(v.Name, v.IP)
		default:
			d.host.SetDNS(v.Name, v.IP)
		}
		unlock()
	}
	return d.host.ReconcileNetwork(ctx, taps, nat)
}

// adopt re-attaches to a VMM that survived a bangerd restart.
func (d *Daemon) adopt(ctx context.Context, v *store.VM) error {
	drv, err := d.host.DriverByName(ctx, v.VMM)
	if err != nil {
		return err
	}
	if err := d.attach(ctx, v, drv); err != nil {
		return err
	}
	d.log.Info("re-adopted running vm", "vm", v.Name, "pid", v.PID)
	return nil
}

// killLeftover stops a VMM started by a create that never finished; the
// record may not have its pid yet, so the pidfile is consulted too.
func (d *Daemon) killLeftover(ctx context.Context, v *store.VM) {
	procs := []vmm.Process{procOf(v)}
	if b, err := os.ReadFile(d.vmDir(v.ID).PIDFile()); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if p, err := vmm.Identify(pid); err == nil && isOurVMM(pid, v.ID) {
				procs = append(procs, p)
			}
		}
	}
	for _, p := range procs {
		if p.Alive() {
			p.Terminate(ctx, 3*time.Second)
		}
	}
}

// isOurVMM checks that pid's command line mentions the VM's id, so a
// recycled pid is never killed.
func isOurVMM(pid int, id string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), id)
}

// supervise notices VMMs that exit on their own (guest poweroff, crash,
// `vm kill`) and releases what they held.
func (d *Daemon) supervise(ctx context.Context) {
	defer d.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		vms, err := d.store.ListVMs(ctx)
		if err != nil {
			continue
		}
		for _, v := range vms {
			if !holdsVMM(v.State) || procOf(&v).Alive() {
				continue
			}
			unlock := d.lockVM(v.ID)
			cur, err := d.store.GetVM(ctx, v.ID)
			if err == nil && holdsVMM(cur.State) && !procOf(&cur).Alive() {
				d.log.Info("vmm exited; marking vm stopped", "vm", cur.Name, "pid", cur.PID, "state", cur.State)
				d.detachAll(ctx, &cur)
				cur.State = api.StateStopped
				d.save(ctx, &cur)
				d.emit(api.EventStopped, cur.Name, "vmm exited")
			}
			unlock()
		}
	}
}

// holdsVMM reports whether a VM in state has a VMM process the supervisor
// watches: a running VM's, or the one a failed start could not stop.
func holdsVMM(state string) bool { return state == api.StateRunning || state == api.StateError }
