// Package agentproto holds the wire types shared by banger-vsock-agent (in
// the guest) and bangerd (on the host). Types only; no logic.
package agentproto

// Port is the vsock port the guest agent listens on.
const Port = 10700

// SerialPortName is the virtio-serial port name used when the VM has no
// vsock device (see internal/vsock for the multiplexed stream).
const SerialPortName = "banger.agent"
