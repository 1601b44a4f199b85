package daemon

import (
	"context"
	"errors"

	"banger/internal/api"
	"banger/internal/store"
)

var errAgentPending = errors.New("guest agent support is not wired yet")

func (d *Daemon) agentShutdown(ctx context.Context, v *store.VM) error { return errAgentPending }

func (d *Daemon) agentStats(ctx context.Context, v *store.VM) (*api.GuestStats, error) {
	return nil, errAgentPending
}

// VMPorts lists the guest's listeners.
func (d *Daemon) VMPorts(ctx context.Context, ref string) (api.PortsResponse, error) {
	return api.PortsResponse{}, errAgentPending
}

// VMHealth asks the guest agent whether the guest is up.
func (d *Daemon) VMHealth(ctx context.Context, ref string) (api.GuestHealth, error) {
	return api.GuestHealth{}, errAgentPending
}
