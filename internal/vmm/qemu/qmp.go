package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// qmpDefaultTimeout bounds a QMP session whose context has no deadline: a
// socket chardev serves one client at a time, so a wedged peer holding the
// socket would otherwise block us forever.
const qmpDefaultTimeout = 10 * time.Second

// qmpConn is one session on qemu's QMP socket (JSON objects, one per line).
// qemu serves a single client per socket chardev, so sessions are short:
// dial, a few commands, close.
type qmpConn struct {
	conn   net.Conn
	dec    *json.Decoder
	enc    *json.Encoder
	nextID int
	stop   func() bool // releases the context watcher
	// Version is qemu's version from the greeting, "7.2.22".
	Version string
}

// qmpError is an error reply from qemu.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Class + ": " + e.Desc }

type qmpMessage struct {
	QMP *struct {
		Version struct {
			QEMU struct {
				Major, Minor, Micro int
			} `json:"qemu"`
		} `json:"version"`
	} `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *qmpError       `json:"error"`
	Event  string          `json:"event"`
	ID     string          `json:"id"`
}

// qmpStatus is the reply of query-status.
type qmpStatus struct {
	Status  string `json:"status"` // "running", "paused", "shutdown", ...
	Running bool   `json:"running"`
}

// dialQMP connects to the QMP socket at path, reads the greeting and leaves
// capabilities negotiation mode. ctx bounds the whole session, not just the
// dial.
func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to qmp socket: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(qmpDefaultTimeout)
	}
	conn.SetDeadline(deadline)
	c := &qmpConn{conn: conn, dec: json.NewDecoder(conn), enc: json.NewEncoder(conn)}
	// Cancellation without a deadline still has to unblock reads.
	c.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })

	var greeting qmpMessage
	if err := c.dec.Decode(&greeting); err != nil {
		c.Close()
		return nil, fmt.Errorf("read qmp greeting: %w", c.ctxErr(ctx, err))
	}
	if greeting.QMP == nil {
		c.Close()
		return nil, errors.New("read qmp greeting: not a qmp server")
	}
	v := greeting.QMP.Version.QEMU
	c.Version = fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
	if err := c.execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close ends the session.
func (c *qmpConn) Close() error {
	c.stop()
	return c.conn.Close()
}

// execute runs one command and decodes its "return" into out (when not
// nil). Asynchronous events and replies to other ids are skipped.
func (c *qmpConn) execute(ctx context.Context, command string, args, out any) error {
	id, req := c.request(command, args)
	if err := c.enc.Encode(req); err != nil {
		return fmt.Errorf("qmp %s: %w", command, c.ctxErr(ctx, err))
	}
	return c.await(ctx, command, id, out)
}

// qmpRequest is one command on the wire.
type qmpRequest struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        string `json:"id"`
}

func (c *qmpConn) request(command string, args any) (string, qmpRequest) {
	c.nextID++
	id := "banger-" + strconv.Itoa(c.nextID)
	return id, qmpRequest{command, args, id}
}

// await reads until the reply to id and decodes its "return" into out.
func (c *qmpConn) await(ctx context.Context, command, id string, out any) error {
	for {
		var m qmpMessage
		if err := c.dec.Decode(&m); err != nil {
			return fmt.Errorf("qmp %s: %w", command, c.ctxErr(ctx, err))
		}
		if m.Event != "" || m.ID != id {
			continue
		}
		if m.Error != nil {
			return fmt.Errorf("qmp %s: %w", command, m.Error)
		}
		if out != nil {
			if err := json.Unmarshal(m.Return, out); err != nil {
				return fmt.Errorf("qmp %s: decode reply: %w", command, err)
			}
		}
		return nil
	}
}

// ctxErr prefers the context's error over the i/o timeout it caused. The
// socket deadline equals the context's and may fire first.
func (c *qmpConn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
	}
	return err
}

func (c *qmpConn) queryStatus(ctx context.Context) (qmpStatus, error) {
	var st qmpStatus
	err := c.execute(ctx, "query-status", nil, &st)
	return st, err
}

// systemPowerdown presses the ACPI power button (a GED event on microvm).
// The guest decides what to do with it: systemd-logind powers off.
func (c *qmpConn) systemPowerdown(ctx context.Context) error {
	return c.execute(ctx, "system_powerdown", nil, nil)
}

// quit ends qemu at once, without asking the guest. qemu may close the
// socket before its reply arrives; that counts as success.
func (c *qmpConn) quit(ctx context.Context) error {
	err := c.execute(ctx, "quit", nil, nil)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}
