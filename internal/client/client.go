// Package client talks to bangerd over its unix socket: one method per API
// endpoint (endpoints.go), and the only place the /v1/... paths are
// written on the client side. It turns transport failures into
// ErrUnreachable and API error bodies into *APIError, and refuses
// (*ForeignPeerError) a socket served by another user's process; hints for
// the user are added by the CLI, not here.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"banger/internal/api"
)

// ErrUnreachable means nothing answered on the socket.
var ErrUnreachable = errors.New("bangerd is not reachable")

// APIError is an error reply from bangerd.
type APIError struct {
	Status int
	Body   api.Error
}

func (e *APIError) Error() string { return e.Body.Message }

// Client is a bangerd API client.
type Client struct {
	Socket string
	http   *http.Client
}

// New returns a client for the socket at path.
func New(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialOwn(ctx, socket)
		},
		MaxIdleConns:    16,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{Socket: socket, http: &http.Client{Transport: tr}}
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://bangerd"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		// Someone else's daemon answered: that is not "unreachable" (the
		// CLI would start its own daemon and fail on the same socket).
		var fp *ForeignPeerError
		if errors.As(err, &fp) {
			return nil, fp
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.Socket, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb api.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Message == "" {
		return &APIError{Status: resp.StatusCode, Body: api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("bangerd answered %s: %s", resp.Status, bytes.TrimSpace(b))}}
	}
	return &APIError{Status: resp.StatusCode, Body: eb.Error}
}

// do sends a JSON request and decodes a JSON reply into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode bangerd reply to %s %s: %w", method, path, err)
	}
	return nil
}

// stream sends a request asking for NDJSON progress, calls onEvent for each
// progress event and returns the final result (or the final error).
func (c *Client) stream(ctx context.Context, method, path string, body any, onEvent func(api.Event)) (api.VM, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return api.VM{}, err
	}
	req.Header.Set("Accept", api.NDJSON)
	resp, err := c.send(req)
	if err != nil {
		return api.VM{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return api.VM{}, fmt.Errorf("decode bangerd event: %w", err)
		}
		switch ev.Type {
		case api.EventResult:
			if ev.Result == nil {
				return api.VM{}, errors.New("bangerd reported a result without the vm")
			}
			return *ev.Result, nil
		case api.EventError:
			if ev.Error == nil {
				return api.VM{}, errors.New("bangerd reported an error without details")
			}
			return api.VM{}, &APIError{Status: http.StatusOK, Body: *ev.Error}
		default:
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return api.VM{}, fmt.Errorf("read bangerd events: %w", err)
	}
	return api.VM{}, errors.New("bangerd closed the stream before the operation finished; see bangerd.log")
}

// Events follows GET /v1/events, calling onEvent for each lifecycle event,
// until ctx ends or the daemon closes the stream.
func (c *Client) Events(ctx context.Context, onEvent func(api.Event)) error {
	req, err := c.newRequest(ctx, http.MethodGet, prefix+"/events", nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev api.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			onEvent(ev)
		}
	}
	return sc.Err()
}
