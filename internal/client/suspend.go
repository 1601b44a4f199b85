package client

import (
	"context"
	"net/http"
	"net/url"

	"banger/internal/api"
)

func vmActionPath(ref, action string) string {
	return "/v1/vms/" + url.PathEscape(ref) + "/" + action
}

// SuspendVM saves a running VM's memory into its directory and ends its
// VMM; onEvent receives progress.
func (c *Client) SuspendVM(ctx context.Context, ref string, onEvent func(api.Event)) (*api.VM, error) {
	return c.Stream(ctx, http.MethodPost, vmActionPath(ref, "suspend"), nil, onEvent)
}

// ResumeVM brings a suspended VM back with its processes.
func (c *Client) ResumeVM(ctx context.Context, ref string, onEvent func(api.Event)) (*api.VM, error) {
	return c.Stream(ctx, http.MethodPost, vmActionPath(ref, "resume"), nil, onEvent)
}

// CloneVM makes a new stopped VM named name from the stopped VM ref.
func (c *Client) CloneVM(ctx context.Context, ref, name string, onEvent func(api.Event)) (*api.VM, error) {
	return c.Stream(ctx, http.MethodPost, vmActionPath(ref, "clone"), api.CloneVMRequest{Name: name}, onEvent)
}
