package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// requestTimeout bounds one API call. Every call banger makes is
// synchronous configuration; InstanceStart (kernel load) is the slowest and
// takes well under a second.
const requestTimeout = 10 * time.Second

// Client talks to one Firecracker process over its API unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the API socket at socketPath. It does not
// connect until the first call.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		// One connection per request: calls are few, and a VMM that
		// exits (Ctrl-Alt-Del) must not leave a stale pooled connection.
		DisableKeepAlives: true,
	}
	return &Client{socket: socketPath, http: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// PutBootSource sets the kernel, initrd and command line.
func (c *Client) PutBootSource(ctx context.Context, b BootSource) error {
	return c.put(ctx, "/boot-source", b)
}

// PutDrive adds or replaces the drive d.DriveID.
func (c *Client) PutDrive(ctx context.Context, d Drive) error {
	return c.put(ctx, "/drives/"+url.PathEscape(d.DriveID), d)
}

// PutNetworkInterface adds the interface n.IfaceID.
func (c *Client) PutNetworkInterface(ctx context.Context, n NetworkInterface) error {
	return c.put(ctx, "/network-interfaces/"+url.PathEscape(n.IfaceID), n)
}

// PutMachineConfig sets vCPUs and memory.
func (c *Client) PutMachineConfig(ctx context.Context, m MachineConfiguration) error {
	return c.put(ctx, "/machine-config", m)
}

// PutVsock adds the vsock device.
func (c *Client) PutVsock(ctx context.Context, v Vsock) error {
	return c.put(ctx, "/vsock", v)
}

// Action runs one of the synchronous actions (ActionInstanceStart,
// ActionSendCtrlAltDel).
func (c *Client) Action(ctx context.Context, actionType string) error {
	return c.put(ctx, "/actions", InstanceActionInfo{ActionType: actionType})
}

// PatchVM pauses or resumes the guest (VMStatePaused, VMStateResumed).
func (c *Client) PatchVM(ctx context.Context, state string) error {
	return c.do(ctx, http.MethodPatch, "/vm", VM{State: state}, nil)
}

// CreateSnapshot writes a paused guest's memory and state.
func (c *Client) CreateSnapshot(ctx context.Context, p SnapshotCreateParams) error {
	return c.slow().put(ctx, "/snapshot/create", p)
}

// LoadSnapshot restores a guest into a fresh Firecracker process.
func (c *Client) LoadSnapshot(ctx context.Context, p SnapshotLoadParams) error {
	return c.slow().put(ctx, "/snapshot/load", p)
}

// slowRequestTimeout bounds the snapshot calls, which write or map all of
// the guest's memory.
const slowRequestTimeout = 10 * time.Minute

func (c *Client) slow() *Client {
	hc := *c.http
	hc.Timeout = slowRequestTimeout
	return &Client{socket: c.socket, http: &hc}
}

// DescribeInstance returns GET /.
func (c *Client) DescribeInstance(ctx context.Context) (InstanceInfo, error) {
	var info InstanceInfo
	err := c.do(ctx, http.MethodGet, "/", nil, &info)
	return info, err
}

func (c *Client) put(ctx context.Context, path string, body any) error {
	return c.do(ctx, http.MethodPut, path, body, nil)
}

// APIError is a non-2xx answer from Firecracker. Message is its
// fault_message, the only diagnosis Firecracker gives, so it is always
// part of the error text.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("firecracker %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode firecracker %s %s: %w", method, path, err)
		}
		// A bytes.Reader gives the request a Content-Length; Firecracker's
		// HTTP server does not accept chunked bodies.
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, rd)
	if err != nil {
		return fmt.Errorf("firecracker %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker %s %s via %s: %w", method, path, c.socket, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("firecracker %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: faultMessage(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("firecracker %s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// faultMessage extracts fault_message, falling back to the raw body so that
// an unexpected answer is still shown rather than lost.
func faultMessage(raw []byte) string {
	var e apiError
	if json.Unmarshal(raw, &e) == nil && e.FaultMessage != "" {
		return e.FaultMessage
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "(empty response body)"
	}
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
