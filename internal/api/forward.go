package api

// Forward is one localhost forward of a VM: connections to
// HostAddr:HostPort on the host reach GuestPort in the guest.
type Forward struct {
	HostAddr  string `json:"host_addr"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
	// Active is true while bangerd listens for it (the VM runs and the
	// host port could be bound); Error says why not when it could not.
	Active bool   `json:"active"`
	Error  string `json:"error,omitempty"`
}

// AddForwardRequest asks for a new forward. A HostAddr other than a
// loopback address needs AnyAddress: it opens the guest port to the
// network.
type AddForwardRequest struct {
	Forward
	AnyAddress bool `json:"any_address,omitempty"`
}
