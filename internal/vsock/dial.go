package vsock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// ErrNoListener means the VMM accepted the connection but closed it without
// "OK": nothing listens on that guest port (yet).
var ErrNoListener = errors.New("no listener on the guest port (connection closed before OK)")

// ErrHandshake means the socket answered something other than "OK <n>".
var ErrHandshake = errors.New("unexpected vsock handshake reply")

const (
	// maxHandshakeLine bounds "CONNECT <port>\n" and "OK <n>\n".
	maxHandshakeLine = 64
	dialMinBackoff   = 10 * time.Millisecond
	dialMaxBackoff   = 500 * time.Millisecond
)

// Dial connects to guest port through a Firecracker-style hybrid vsock unix
// socket: it sends "CONNECT <port>\n", waits for "OK <n>\n" and returns the
// stream. While the socket is missing, refuses connections or closes them
// without "OK" (the guest is still booting), Dial retries with backoff until
// ctx ends; the error then wraps both the last failure and ctx.Err().
func Dial(ctx context.Context, udsPath string, port uint32) (net.Conn, error) {
	delay := dialMinBackoff
	var last error // the last failure not caused by ctx itself
	for {
		c, err := dialOnce(ctx, udsPath, port)
		if err == nil {
			return c, nil
		}
		if ctxErr(ctx) == nil {
			if !retryable(err) {
				return nil, fmt.Errorf("vsock dial %s port %d: %w", udsPath, port, err)
			}
			last = err
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			delay = min(2*delay, dialMaxBackoff)
		}
		if cerr := ctxErr(ctx); cerr != nil {
			if last == nil {
				last = err
			}
			return nil, fmt.Errorf("vsock dial %s port %d: %w; gave up: %w", udsPath, port, last, cerr)
		}
	}
}

// ctxErr is ctx.Err(), except that a passed deadline counts even before the
// context's timer has fired: the net package already fails dials then.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func dialOnce(ctx context.Context, udsPath string, port uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", udsPath)
	if err != nil {
		return nil, fmt.Errorf("connect to vsock socket: %w", err)
	}
	// Unblock the handshake when ctx ends; the hybrid socket may accept and
	// then say nothing while the VMM is busy.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	err = clientHandshake(c, port)
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("vsock handshake: %w", ctx.Err())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func clientHandshake(c net.Conn, port uint32) error {
	if _, err := fmt.Fprintf(c, "CONNECT %d\n", port); err != nil {
		return fmt.Errorf("send CONNECT: %w", err)
	}
	line, err := readLine(c)
	if err != nil {
		if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return ErrNoListener
		}
		return fmt.Errorf("read handshake reply %q: %w", line, err)
	}
	rest, ok := bytes.CutPrefix(line, []byte("OK "))
	if !ok {
		return fmt.Errorf("%w %q", ErrHandshake, line)
	}
	if _, err := strconv.ParseUint(string(rest), 10, 32); err != nil {
		return fmt.Errorf("%w %q", ErrHandshake, line)
	}
	return nil
}

// readLine reads up to '\n' one byte at a time so no byte of the stream that
// follows is consumed. The newline is not returned.
func readLine(r io.Reader) ([]byte, error) {
	var line []byte
	var b [1]byte
	for len(line) < maxHandshakeLine {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			return line, err
		}
	}
	return line, fmt.Errorf("handshake line longer than %d bytes", maxHandshakeLine)
}

// retryable reports failures that mean "not there yet" rather than "wrong".
func retryable(err error) bool {
	return errors.Is(err, ErrNoListener) ||
		errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// parseConnect parses the host side of the handshake, "CONNECT <port>".
func parseConnect(line []byte) (uint32, error) {
	rest, ok := bytes.CutPrefix(line, []byte("CONNECT "))
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrHandshake, line)
	}
	p, err := strconv.ParseUint(string(rest), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w %q", ErrHandshake, line)
	}
	return uint32(p), nil
}
