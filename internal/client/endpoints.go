package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"banger/internal/api"
)

// prefix is the API version every path starts with.
const prefix = "/" + api.Version

// vmPath addresses a VM by ref (name, id or id prefix), escaped so a ref
// can never reach another endpoint.
func vmPath(ref, suffix string) string {
	return prefix + "/vms/" + url.PathEscape(ref) + suffix
}

func imagePath(ref string) string {
	return prefix + "/images/" + url.PathEscape(ref)
}

// ErrorParts splits err into what failed and what to do next: bangerd's
// own message and hint for an API error, the error text and no hint
// otherwise. Callers escape both before showing them.
func ErrorParts(err error) (msg, hint string) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Body.Message, apiErr.Body.Hint
	}
	return err.Error(), ""
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.DaemonStatus, error) {
	var st api.DaemonStatus
	err := c.do(ctx, http.MethodGet, prefix+"/status", nil, &st)
	return st, err
}

// Shutdown is POST /v1/shutdown: bangerd stops after answering.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, prefix+"/shutdown", nil, nil)
}

// ListVMs is GET /v1/vms.
func (c *Client) ListVMs(ctx context.Context) ([]api.VM, error) {
	var vms []api.VM
	err := c.do(ctx, http.MethodGet, prefix+"/vms", nil, &vms)
	return vms, err
}

// GetVM is GET /v1/vms/{ref}.
func (c *Client) GetVM(ctx context.Context, ref string) (api.VM, error) {
	var vm api.VM
	err := c.do(ctx, http.MethodGet, vmPath(ref, ""), nil, &vm)
	return vm, err
}

// CreateVM is POST /v1/vms, streamed: onProgress (which may be nil) gets
// each step as it happens.
func (c *Client) CreateVM(ctx context.Context, req api.CreateVMRequest, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, prefix+"/vms", req, onProgress)
}

// StartVM is POST /v1/vms/{ref}/start, streamed.
func (c *Client) StartVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/start"), nil, onProgress)
}

// StopVM is POST /v1/vms/{ref}/stop, streamed.
func (c *Client) StopVM(ctx context.Context, ref string, req api.StopRequest, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/stop"), req, onProgress)
}

// RestartVM is POST /v1/vms/{ref}/restart, streamed.
func (c *Client) RestartVM(ctx context.Context, ref string, onProgress func(api.Event)) (api.VM, error) {
	return c.stream(ctx, http.MethodPost, vmPath(ref, "/restart"), nil, onProgress)
}

// KillVM is POST /v1/vms/{ref}/kill.
func (c *Client) KillVM(ctx context.Context, ref string, req api.KillRequest) (api.VM, error) {
	var vm api.VM
	err := c.do(ctx, http.MethodPost, vmPath(ref, "/kill"), req, &vm)
	return vm, err
}

// DeleteVM is DELETE /v1/vms/{ref}; force stops a running VM first.
func (c *Client) DeleteVM(ctx context.Context, ref string, force bool) (api.VM, error) {
	path := vmPath(ref, "")
	if force {
		path += "?force=true"
	}
	var vm api.VM
	err := c.do(ctx, http.MethodDelete, path, nil, &vm)
	return vm, err
}

// SetVM is PATCH /v1/vms/{ref}.
func (c *Client) SetVM(ctx context.Context, ref string, req api.SetVMRequest) (api.VM, error) {
	var vm api.VM
	err := c.do(ctx, http.MethodPatch, vmPath(ref, ""), req, &vm)
	return vm, err
}

// VMStats is GET /v1/vms/{ref}/stats.
func (c *Client) VMStats(ctx context.Context, ref string) (api.VMStats, error) {
	var st api.VMStats
	err := c.do(ctx, http.MethodGet, vmPath(ref, "/stats"), nil, &st)
	return st, err
}

// VMPorts is GET /v1/vms/{ref}/ports.
func (c *Client) VMPorts(ctx context.Context, ref string) (api.PortsResponse, error) {
	var pr api.PortsResponse
	err := c.do(ctx, http.MethodGet, vmPath(ref, "/ports"), nil, &pr)
	return pr, err
}

// VMHealth is GET /v1/vms/{ref}/health.
func (c *Client) VMHealth(ctx context.Context, ref string) (api.GuestHealth, error) {
	var h api.GuestHealth
	err := c.do(ctx, http.MethodGet, vmPath(ref, "/health"), nil, &h)
	return h, err
}

// ListImages is GET /v1/images.
func (c *Client) ListImages(ctx context.Context) ([]api.Image, error) {
	var ims []api.Image
	err := c.do(ctx, http.MethodGet, prefix+"/images", nil, &ims)
	return ims, err
}

// GetImage is GET /v1/images/{ref}.
func (c *Client) GetImage(ctx context.Context, ref string) (api.Image, error) {
	var im api.Image
	err := c.do(ctx, http.MethodGet, imagePath(ref), nil, &im)
	return im, err
}

// RegisterImage is POST /v1/images.
func (c *Client) RegisterImage(ctx context.Context, req api.RegisterImageRequest) (api.Image, error) {
	var im api.Image
	err := c.do(ctx, http.MethodPost, prefix+"/images", req, &im)
	return im, err
}

// DeleteImage is DELETE /v1/images/{ref}.
func (c *Client) DeleteImage(ctx context.Context, ref string) (api.Image, error) {
	var im api.Image
	err := c.do(ctx, http.MethodDelete, imagePath(ref), nil, &im)
	return im, err
}
