package tui

import (
	"context"
	"errors"
	"net/url"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/termtext"
)

// Backend is the part of the bangerd client the TUI uses. *client.Client
// satisfies it; tests use a fake.
type Backend interface {
	Do(ctx context.Context, method, path string, body, out any) error
	Stream(ctx context.Context, method, path string, body any, onEvent func(api.Event)) (*api.VM, error)
	Events(ctx context.Context, onEvent func(api.Event)) error
}

var _ Backend = (*client.Client)(nil)

// vmPath addresses a VM by id: unlike a name prefix it can never become
// ambiguous while the TUI is open.
func vmPath(id, suffix string) string {
	return "/v1/vms/" + url.PathEscape(id) + suffix
}

const unreachableHint = "is bangerd running? `banger daemon status` starts it; its log is ~/.local/state/banger/bangerd.log"

// errorParts splits err into what failed and what to do next: the API's
// own message and hint, or a hint for a daemon that does not answer. An
// error may quote the guest (agent errors, console lines), so both come
// back with control characters escaped, on one line each.
func errorParts(err error) (msg, hint string) {
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		return termtext.Escape(apiErr.Body.Message), termtext.Escape(apiErr.Body.Hint)
	case errors.Is(err, client.ErrUnreachable):
		return termtext.Escape(err.Error()), unreachableHint
	}
	return termtext.Escape(err.Error()), ""
}
