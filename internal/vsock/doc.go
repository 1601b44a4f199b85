// Package vsock owns the byte-stream transport between bangerd and the guest
// agent, on both sides of the VM boundary.
//
// The host side always talks to a per-VM unix socket with Firecracker's
// hybrid-vsock handshake: connect, send "CONNECT <port>\n", read "OK <n>\n",
// then the stream (Dial). Firecracker provides that socket natively; for qemu
// without /dev/vhost-vsock, ServeMux provides the same socket on the host and
// carries every connection as a stream multiplexed over one virtio-serial
// port (the "serial mux", see frame.go for the wire format). In the guest,
// ListenVsock listens on AF_VSOCK and ListenSerial accepts the streams the
// host opens over the virtio-serial port.
//
// The package moves bytes only: it knows nothing about HTTP or the agent's
// API, and it never runs subprocesses.
package vsock
