// Package client is the host side of the guest agent API: a typed client
// that bangerd uses over one stream per call (vsock, or the serial mux behind
// the same hybrid-vsock socket). It classifies failures so callers can tell
// "the agent is not there" from "the agent is broken"; user-facing hints are
// left to the CLI.
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

	"banger/internal/agent/agentproto"
	"banger/internal/vsock"
)

// Failure classes; every error from a call wraps exactly one of them (or an
// *APIError for a well-formed error answer).
var (
	// ErrUnreachable: no connection, or it closed before any answer. The
	// VM may be stopped, still booting, or the agent not running.
	ErrUnreachable = errors.New("agent not reachable")
	// ErrTimeout: connected, but the answer did not arrive in time.
	ErrTimeout = errors.New("agent did not answer in time")
	// ErrGarbage: something answered, but not the agent protocol.
	ErrGarbage = errors.New("agent returned garbage")
	// ErrSSMissing: the guest image has no ss; it needs rebuilding.
	// Matched by errors.Is on the *APIError the agent sent.
	ErrSSMissing = errors.New("ss missing in the guest image")
	// ErrUnauthorized: the agent refused the token (the VM's token file
	// and the guest's copy differ, or the guest has none). Matched by
	// errors.Is on the *APIError the agent sent.
	ErrUnauthorized = errors.New("agent refused the token")
)

// APIError is a well-formed error answer from the agent.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// Is makes errors.Is(err, ErrSSMissing) and errors.Is(err,
// ErrUnauthorized) work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrSSMissing:
		return e.Code == agentproto.CodeSSMissing
	case ErrUnauthorized:
		return e.Code == agentproto.CodeUnauthorized
	}
	return false
}

// Default per-call timeouts. Ports runs ss in the guest, which can take a
// moment on a busy or emulated (TCG) VM.
const (
	DefaultTimeout      = 3 * time.Second
	DefaultPortsTimeout = 5 * time.Second
)

// Caps on what a call reads from the guest, which may be hostile: the
// status line and headers together, and the body. A call that reaches one
// fails with ErrGarbage having read at most that many bytes (plus, for the
// body, its chunk framing).
const (
	MaxHeaderBytes = 16 << 10
	MaxAnswerBytes = 4 << 20
)

// Client calls the guest agent. Each call dials a new stream.
type Client struct {
	dial  func(ctx context.Context) (net.Conn, error)
	token string
	// Timeout bounds every call when non-zero, instead of the defaults.
	// The caller's ctx deadline applies too.
	Timeout time.Duration
}

// New returns a client that reaches the agent through dial and presents
// token (the VM's agent token) on every call.
func New(dial func(ctx context.Context) (net.Conn, error), token string) *Client {
	return &Client{dial: dial, token: token}
}

// VsockDialer dials the agent's port through a VM's hybrid vsock socket
// (Firecracker's, or vsock.ServeMux for the qemu serial fallback), retrying
// while the guest is not listening yet.
func VsockDialer(udsPath string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		return vsock.Dial(ctx, udsPath, agentproto.Port)
	}
}

// Health returns the agent's health answer.
func (c *Client) Health(ctx context.Context) (agentproto.Health, error) {
	var h agentproto.Health
	err := c.call(ctx, "health", DefaultTimeout, http.MethodGet, agentproto.PathHealth, nil, http.StatusOK, &h)
	if err == nil && h.Version == "" {
		err = fmt.Errorf("agent health: %w: answer has no version", ErrGarbage)
	}
	return h, err
}

// Ports lists the guest's listening TCP and UDP sockets. A guest without
// ss gives an error matching ErrSSMissing.
func (c *Client) Ports(ctx context.Context) ([]agentproto.ListeningPort, error) {
	var r agentproto.PortsResponse
	err := c.call(ctx, "ports", DefaultPortsTimeout, http.MethodGet, agentproto.PathPorts, nil, http.StatusOK, &r)
	return r.Ports, err
}

// Stats returns guest memory, load, uptime and disk usage.
func (c *Client) Stats(ctx context.Context) (agentproto.Stats, error) {
	var s agentproto.Stats
	err := c.call(ctx, "stats", DefaultTimeout, http.MethodGet, agentproto.PathStats, nil, http.StatusOK, &s)
	return s, err
}

// Shutdown asks the guest to reboot or power off (agentproto.ActionReboot,
// agentproto.ActionPoweroff). It returns once the agent accepted; the guest
// goes down shortly after. To stop a VM, ask for ActionReboot: the VM boots
// with reboot=k, so a reboot ends the VMM.
func (c *Client) Shutdown(ctx context.Context, action string) error {
	var r agentproto.ShutdownResponse
	req := agentproto.ShutdownRequest{Action: action}
	return c.call(ctx, "shutdown", DefaultTimeout, http.MethodPost, agentproto.PathShutdown, req, http.StatusAccepted, &r)
}

func (c *Client) call(ctx context.Context, op string, timeout time.Duration, method, path string, body any, want int, out any) error {
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.roundTrip(ctx, method, path, body, want, out); err != nil {
		return fmt.Errorf("agent %s: %w", op, err)
	}
	return nil
}

func (c *Client) roundTrip(ctx context.Context, method, path string, body any, want int, out any) error {
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, reqBody)
	if err != nil {
		return err
	}
	req.Close = true
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	conn, err := c.dial(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := req.Write(conn); err != nil {
		return classify(ctx, ErrUnreachable, fmt.Errorf("send request: %w", err))
	}
	cr := &cappedReader{r: conn, limit: MaxHeaderBytes}
	resp, err := http.ReadResponse(bufio.NewReader(cr), req)
	if err != nil {
		if cr.hit {
			return fmt.Errorf("%w: answer headers larger than %d bytes", ErrGarbage, MaxHeaderBytes)
		}
		if cr.n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			// Typical of a hybrid vsock socket whose guest end went away
			// between the handshake and the request.
			return classify(ctx, ErrUnreachable, errors.New("connection closed before an answer"))
		}
		return classify(ctx, ErrGarbage, fmt.Errorf("read answer: %w", err))
	}
	defer resp.Body.Close()
	// The body may be chunked: allow its framing on top of the data, but
	// never more than that.
	cr.limit = cr.n + MaxAnswerBytes + MaxHeaderBytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if len(data) > MaxAnswerBytes || cr.hit {
		return fmt.Errorf("%w: answer larger than %d bytes", ErrGarbage, MaxAnswerBytes)
	}
	if err != nil {
		return classify(ctx, ErrGarbage, fmt.Errorf("read answer body: %w", err))
	}
	if resp.StatusCode != want {
		var er agentproto.ErrorResponse
		if json.Unmarshal(data, &er) != nil || er.Error.Code == "" {
			return fmt.Errorf("%w: HTTP %d with body %q", ErrGarbage, resp.StatusCode, snippet(data))
		}
		return &APIError{Status: resp.StatusCode, Code: er.Error.Code, Message: er.Error.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: decode answer: %w (body %q)", ErrGarbage, err, snippet(data))
	}
	return nil
}

// classify turns a failure after connecting into ErrTimeout when the call
// ran out of time, and into class otherwise.
func classify(ctx context.Context, class, err error) error {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", class, err)
}

func snippet(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// errCapped ends a read that reached its cap.
var errCapped = errors.New("read cap reached")

// cappedReader counts what it reads and reads no more than limit bytes in
// total; hit records that the cap was reached.
type cappedReader struct {
	r     io.Reader
	n     int64
	limit int64
	hit   bool
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		c.hit = true
		return 0, errCapped
	}
	if room := c.limit - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Sync asks the guest to flush its filesystems and returns once it has.
func (c *Client) Sync(ctx context.Context) error {
	var r agentproto.SyncResponse
	return c.call(ctx, "sync", DefaultSyncTimeout, http.MethodPost, agentproto.PathSync, struct{}{}, http.StatusOK, &r)
}

// DefaultSyncTimeout bounds a sync: a guest with much dirty data on a slow
// disk takes a while.
const DefaultSyncTimeout = 2 * time.Minute

// SetClock sets the guest's wall clock to t and returns how far it moved.
func (c *Client) SetClock(ctx context.Context, t time.Time) (time.Duration, error) {
	var r agentproto.ClockResponse
	err := c.call(ctx, "clock", DefaultTimeout, http.MethodPost, agentproto.PathClock, agentproto.ClockRequest{UnixNano: t.UnixNano()}, http.StatusOK, &r)
	return time.Duration(r.StepNanos), err
}
