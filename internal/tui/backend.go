package tui

import (
	"context"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/termtext"
)

// Backend is the part of the typed bangerd client the TUI uses.
// *client.Client satisfies it; VMs are always addressed by id, which,
// unlike a name prefix, can never become ambiguous while the TUI is open.
type Backend interface {
	ListVMs(ctx context.Context) ([]api.VM, error)
	GetVM(ctx context.Context, ref string) (api.VM, error)
	VMStats(ctx context.Context, ref string) (api.VMStats, error)
	VMPorts(ctx context.Context, ref string) (api.PortsResponse, error)
	StartVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error)
	StopVM(ctx context.Context, ref string, req api.StopRequest, onProgress func(api.Event)) (api.VM, error)
	RestartVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error)
	SetVM(ctx context.Context, ref string, req api.SetVMRequest) (api.VM, error)
	DeleteVM(ctx context.Context, ref string, force bool) (api.VM, error)
	Events(ctx context.Context, onEvent func(api.Event)) error
}

var _ Backend = (*client.Client)(nil)

// Describe splits an error into what failed and what to do next. The CLI
// hands the TUI its own, so both show an error and its hint the same way.
type Describe func(error) (msg, hint string)

// parts is d(err) with control characters escaped, on one line each: an
// error may quote the guest (agent errors, console lines).
func (d Describe) parts(err error) (msg, hint string) {
	if d == nil {
		d = client.ErrorParts
	}
	msg, hint = d(err)
	return termtext.Escape(msg), termtext.Escape(hint)
}
