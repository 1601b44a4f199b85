package vsock

import (
	"fmt"
	"io"
	"net"
	"time"
)

// ReadConnect is the server side of the hybrid-vsock handshake, for every
// socket that plays Firecracker's part (the serial mux, qemu's vhost-vsock
// proxy, the Firecracker fake): it reads "CONNECT <port>\n" from c within
// timeout, one byte at a time so nothing the client sends after the line
// is consumed, and clears the deadline again. The caller then either
// answers with WriteOK and carries the stream, or closes c (no listener).
func ReadConnect(c net.Conn, timeout time.Duration) (uint32, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	line, err := readLine(c)
	if err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	port, err := parseConnect(line)
	if err != nil {
		return 0, err
	}
	return port, c.SetReadDeadline(time.Time{})
}

// WriteOK accepts a connection whose CONNECT was read: "OK <local>\n",
// where local is the host-side port number the stream was given.
func WriteOK(w io.Writer, local uint32) error {
	_, err := fmt.Fprintf(w, "OK %d\n", local)
	return err
}
