package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"banger/internal/api"
)

func forwardsPath(ref string) string { return vmPath(ref, "/forwards") }

// Forwards is GET /v1/vms/{ref}/forwards: the VM's localhost forwards.
// Forwards lists a VM's localhost forwards.
func (c *Client) Forwards(ctx context.Context, ref string) (api.ForwardList, error) {
	var out api.ForwardList
	err := c.do(ctx, http.MethodGet, forwardsPath(ref), nil, &out)
	return out, err
}

// SetAutoForward turns mirroring of the guest's listeners on or off.
func (c *Client) SetAutoForward(ctx context.Context, ref string, on bool) (api.ForwardList, error) {
	var out api.ForwardList
	err := c.do(ctx, http.MethodPost, forwardsPath(ref)+"/auto", api.AutoForwardRequest{Enabled: on}, &out)
	return out, err
}

// AddForward records a localhost forward (and listens, if the VM runs).
func (c *Client) AddForward(ctx context.Context, ref string, req api.AddForwardRequest) (api.Forward, error) {
	var out api.Forward
	err := c.do(ctx, http.MethodPost, forwardsPath(ref), req, &out)
	return out, err
}

// RemoveForward stops and forgets the forward on hostAddr:hostPort.
func (c *Client) RemoveForward(ctx context.Context, ref, hostAddr string, hostPort int) (api.Forward, error) {
	var out api.Forward
	err := c.do(ctx, http.MethodDelete, forwardsPath(ref)+"/"+url.PathEscape(hostAddr)+"/"+strconv.Itoa(hostPort), nil, &out)
	return out, err
}
