package client

import (
	"context"
	"net/http"

	"banger/internal/api"
)

// SuspendVM is POST /v1/vms/{ref}/suspend, streamed: it saves a running
// VM's memory into its directory and ends its VMM.
func (c *Client) SuspendVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/suspend"), nil, onProgress)
}

// ResumeVM is POST /v1/vms/{ref}/resume, streamed: it brings a suspended
// VM back with its processes.
func (c *Client) ResumeVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/resume"), nil, onProgress)
}

// CloneVM is POST /v1/vms/{ref}/clone, streamed: a new stopped VM named
// name from the stopped VM ref.
func (c *Client) CloneVM(ctx context.Context, ref, name string, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/clone"), api.CloneVMRequest{Name: name}, onProgress)
}

// ExportVM is POST /v1/vms/{ref}/export: copies of a stopped VM's disks in
// a directory the caller removes (see api.VMExport).
func (c *Client) ExportVM(ctx context.Context, ref string) (api.VMExport, error) {
	var x api.VMExport
	err := c.do(ctx, http.MethodPost, vmPath(ref, "/export"), nil, &x)
	return x, err
}
