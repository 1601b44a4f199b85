package privileged

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// Operation names, as passed after `priv` on the helper's command line.
const (
	opEnsureBridge     = "ensure-bridge"
	opCreateTAP        = "create-tap"
	opDeleteTAP        = "delete-tap"
	opApplyNAT         = "apply-nat"
	opRemoveNAT        = "remove-nat"
	opReconcileNAT     = "reconcile-nat"
	opEnableForwarding = "enable-forwarding"
	opPing             = "ping"
)

// maxRequest bounds what the helper reads from its unprivileged caller.
const maxRequest = 1 << 20

type bridgeRequest struct {
	Name string       `json:"name"`
	Addr netip.Prefix `json:"addr"`
}

type tapRequest struct {
	Name   string `json:"name"`
	UID    int    `json:"uid,omitempty"`
	GID    int    `json:"gid,omitempty"`
	Bridge string `json:"bridge,omitempty"`
}

type natRequest struct {
	VMID    string     `json:"vm_id"`
	GuestIP netip.Addr `json:"guest_ip,omitzero"`
	TAP     string     `json:"tap,omitempty"`
	Bridge  string     `json:"bridge,omitempty"`
}

type reconcileRequest struct {
	Keep []string `json:"keep"`
}

type empty struct{}

// response is the helper's single line of JSON output.
type response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	EUID  *int   `json:"euid,omitempty"` // ping only
}

func (r bridgeRequest) validate() error {
	if err := network.ValidateName(r.Name); err != nil {
		return err
	}
	if !r.Addr.IsValid() || !r.Addr.Addr().Is4() || r.Addr.Bits() < 8 || r.Addr.Bits() > 30 {
		return fmt.Errorf("bridge address %v must be IPv4 with a prefix length between /8 and /30", r.Addr)
	}
	if r.Addr.Masked().Addr() == r.Addr.Addr() {
		return fmt.Errorf("bridge address %v is the network address; use a host address such as the first one", r.Addr)
	}
	return nil
}

func (r tapRequest) validateCreate() error {
	if err := r.validateDelete(); err != nil {
		return err
	}
	if err := network.ValidateName(r.Bridge); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if r.UID < 0 || r.GID < 0 || r.UID > 1<<31-2 || r.GID > 1<<31-2 {
		return fmt.Errorf("tap owner %d:%d out of range", r.UID, r.GID)
	}
	return nil
}

func (r tapRequest) validateDelete() error { return network.ValidateName(r.Name) }

func (r natRequest) rule() nat.Rule {
	return nat.Rule{VMID: r.VMID, GuestIP: r.GuestIP, TAP: r.TAP, Bridge: r.Bridge}
}

func (r reconcileRequest) validate() error {
	_, err := keepSet(r.Keep)
	return err
}

// decode reads one JSON value into v, strictly: unknown fields, trailing
// data and oversized input are errors. Empty input decodes as {}.
func decode(in io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(in, maxRequest+1))
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if len(data) > maxRequest {
		return errors.New("request larger than 1 MiB")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request: %w", err)
	}
	if dec.More() {
		return errors.New("decode request: trailing data after the JSON object")
	}
	return nil
}
