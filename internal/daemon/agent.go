package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"banger/internal/agent/agentproto"
	agentclient "banger/internal/agent/client"
	"banger/internal/api"
	"banger/internal/daemon/apierr"
	"banger/internal/store"
)

// agentFor is a client of v's guest agent through its vsock-style socket
// (native on Firecracker, multiplexed over virtio-serial on qemu),
// presenting the VM's agent token. A VM still running since before agent
// tokens existed has none, and its agent asks for none.
func (d *Daemon) agentFor(v *store.VM) (*agentclient.Client, error) {
	dir := d.vmDir(v.ID)
	tok, _, err := readAgentToken(dir)
	if err != nil {
		return nil, fmt.Errorf("vm %s: %w", v.Name, err)
	}
	return agentclient.New(agentclient.VsockDialer(dir.VsockSocket()), tok), nil
}

// agentShutdown asks the guest to reboot, which ends the VMM (reboot=k).
func (d *Daemon) agentShutdown(ctx context.Context, v *store.VM) error {
	// Without the host socket there is nothing to retry against.
	if _, err := os.Stat(d.vmDir(v.ID).VsockSocket()); err != nil {
		return fmt.Errorf("agent socket: %w", err)
	}
	c, err := d.agentFor(v)
	if err != nil {
		return err
	}
	return c.Shutdown(ctx, agentproto.ActionReboot)
}

func (d *Daemon) agentStats(ctx context.Context, v *store.VM) (*api.GuestStats, error) {
	c, err := d.agentFor(v)
	if err != nil {
		return nil, err
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	gs := &api.GuestStats{
		MemTotalBytes: int64(st.Memory.TotalBytes), MemAvailableBytes: int64(st.Memory.AvailableBytes),
		Load1: st.Load.One, Load5: st.Load.Five, Load15: st.Load.Fifteen, UptimeSeconds: st.UptimeSeconds,
	}
	for _, dk := range st.Disks {
		if dk.Error != "" {
			continue
		}
		gs.Disks = append(gs.Disks, api.FSUsage{Mount: dk.Path, TotalBytes: int64(dk.TotalBytes), UsedBytes: int64(dk.TotalBytes - dk.FreeBytes)})
	}
	return gs, nil
}

// VMHealth asks the guest agent whether the guest is up.
func (d *Daemon) VMHealth(ctx context.Context, ref string) (api.GuestHealth, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.GuestHealth{}, err
	}
	h := api.GuestHealth{VM: v.Name}
	if !procOf(&v).Alive() {
		h.Error = "vm is not running"
		return h, nil
	}
	c, err := d.agentFor(&v)
	if err != nil {
		h.Error = err.Error()
		return h, nil
	}
	hl, err := c.Health(ctx)
	if err != nil {
		h.Error = err.Error()
		return h, nil
	}
	h.Up, h.AgentVersion, h.UptimeSeconds = true, hl.Version, hl.UptimeSeconds
	return h, nil
}

// VMPorts lists the guest's host-reachable listeners, probing TCP ones for
// HTTP so the CLI can print clickable URLs.
func (d *Daemon) VMPorts(ctx context.Context, ref string) (api.PortsResponse, error) {
	v, err := d.store.ResolveVM(ctx, ref)
	if err != nil {
		return api.PortsResponse{}, err
	}
	if !procOf(&v).Alive() {
		return api.PortsResponse{}, apierr.Conflict("start it with `banger vm start "+v.Name+"`", "vm %s is not running", v.Name)
	}
	c, err := d.agentFor(&v)
	if err != nil {
		return api.PortsResponse{}, err
	}
	listeners, err := c.Ports(ctx)
	switch {
	case errors.Is(err, agentclient.ErrUnauthorized):
		return api.PortsResponse{}, apierr.Unavailable("restart the vm (`banger vm restart "+v.Name+"`): a start writes the token into the guest again", "guest agent of vm %s refused banger's token: %w", v.Name, err)
	case errors.Is(err, agentclient.ErrSSMissing):
		return api.PortsResponse{}, apierr.Unavailable("rebuild the image with a packages.apt that includes iproute2 (`make rootfs`), then recreate the VM", "image %s of vm %s has no `ss`", v.ImageName, v.Name)
	case err != nil:
		return api.PortsResponse{}, apierr.Unavailable("the guest may still be booting; check that banger-vsock-agent runs in the guest (`systemctl status banger-vsock-agent`)", "guest agent of vm %s: %w", v.Name, err)
	}
	out := api.PortsResponse{VM: v.Name, Ports: []api.Port{}}
	seen := map[string]bool{}
	for _, l := range listeners {
		if isLoopback(l.Address) {
			continue // not reachable from the host
		}
		key := l.Proto + "/" + strconv.Itoa(l.Port)
		if seen[key] {
			continue // the same service on IPv4 and IPv6
		}
		seen[key] = true
		out.Ports = append(out.Ports, api.Port{VM: v.Name, Endpoint: fmt.Sprintf("%s.vm:%d", v.Name, l.Port), Proto: l.Proto,
			Address: l.Address, Port: l.Port, Process: l.Process, PID: l.PID, Command: l.Command})
	}
	sort.Slice(out.Ports, func(i, j int) bool {
		if out.Ports[i].Port != out.Ports[j].Port {
			return out.Ports[i].Port < out.Ports[j].Port
		}
		return out.Ports[i].Proto < out.Ports[j].Proto
	})
	probeURLs(ctx, v.IP.String(), out.Ports)
	return out, nil
}

func isLoopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || addr == "::1"
}
