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
	// Auto marks a forward that --auto made for a guest listener; it
	// lasts as long as the listener.
	Auto bool `json:"auto,omitempty"`
}

// ForwardList is GET /v1/vms/{ref}/forwards.
type ForwardList struct {
	// Auto is true when the guest's listeners are mirrored (--auto).
	Auto     bool      `json:"auto"`
	Forwards []Forward `json:"forwards"`
}

// AutoForwardRequest turns --auto on or off.
type AutoForwardRequest struct {
	Enabled bool `json:"enabled"`
}

// AddForwardRequest asks for a new forward. A HostAddr other than a
// loopback address needs AnyAddress: it opens the guest port to the
// network.
type AddForwardRequest struct {
	Forward
	AnyAddress bool `json:"any_address,omitempty"`
}
