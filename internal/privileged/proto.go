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
	opEnsureBridge = "ensure-bridge"
	opCreateTAP    = "create-tap"
	opDeleteTAP    = "delete-tap"
	opBindTAP      = "bind-tap"
	opApplyNAT     = "apply-nat"
	opRemoveNAT    = "remove-nat"
	opReconcileNAT = "reconcile-nat"
	opPing         = "ping"
)

// maxRequest bounds what the helper reads from its unprivileged caller.
const maxRequest = 1 << 20

// owner is an Owner on the wire.
type owner struct {
	UID          int    `json:"uid"`
	Installation string `json:"installation"`
}

func wireOwner(o network.Owner) owner { return owner{UID: o.UID, Installation: o.Installation} }
func (o owner) owner() network.Owner {
	return network.Owner{UID: o.UID, Installation: o.Installation}
}

type bridgeRequest struct {
	Name            string       `json:"name"`
	Gateway         netip.Prefix `json:"gateway"`
	Owner           owner        `json:"owner"`
	BlockHostAccess bool         `json:"block_host_access,omitempty"`
}

type bindRequest struct {
	Name  string     `json:"name"`
	Owner owner      `json:"owner"`
	MAC   string     `json:"mac"`
	IP    netip.Addr `json:"ip"`
}

type tapRequest struct {
	Name   string `json:"name"`
	Owner  owner  `json:"owner"`
	GID    int    `json:"gid,omitempty"`
	Bridge string `json:"bridge,omitempty"`
}

type natRequest struct {
	Owner   owner      `json:"owner"`
	VMID    string     `json:"vm_id"`
	GuestIP netip.Addr `json:"guest_ip,omitzero"`
	TAP     string     `json:"tap,omitempty"`
	Bridge  string     `json:"bridge,omitempty"`
}

func (r natRequest) rule() nat.Rule {
	return nat.Rule{Owner: r.Owner.owner(), VMID: r.VMID, GuestIP: r.GuestIP, TAP: r.TAP, Bridge: r.Bridge}
}

type reconcileRequest struct {
	Owner owner    `json:"owner"`
	Keep  []string `json:"keep"`
}

type empty struct{}

// response is the helper's single line of JSON output.
type response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	EUID  *int   `json:"euid,omitempty"` // ping only
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
