package privileged

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// Main is the privileged helper: bangerd's hidden `priv` subcommand calls it
// with the arguments after `priv` (exactly one operation name), the request
// JSON on stdin, and writes one JSON line to stdout. It returns the process
// exit code: 0 done, 1 the operation failed, 2 the request was refused.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) int {
	h := helper{euid: os.Geteuid(), egid: os.Getegid(), getenv: os.Getenv, backend: func() backend { return newSystem() }}
	return h.main(ctx, args, stdin, stdout)
}

// helper is Main with its dependencies visible, so tests can drive it with
// a fake backend, a chosen euid and a chosen sudo environment.
type helper struct {
	euid, egid int
	getenv     env
	backend    func() backend
}

func (h helper) main(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) int {
	reply := func(code int, r response) int {
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "%s\n", b)
		return code
	}
	refuseWith := func(err error) int { return reply(2, response{Error: err.Error()}) }

	if len(args) != 1 {
		return refuseWith(fmt.Errorf("usage: priv <operation> (request JSON on stdin)"))
	}
	op := args[0]
	if op == opPing {
		if err := decode(stdin, &empty{}); err != nil {
			return refuseWith(err)
		}
		euid := h.euid
		return reply(0, response{OK: true, EUID: &euid})
	}
	if h.euid != 0 {
		return refuseWith(fmt.Errorf("privileged %s: the helper must run as root (euid is %d)", op, h.euid))
	}
	caller, err := callerFrom(h.getenv, h.euid, h.egid)
	if err != nil {
		return refuseWith(err)
	}
	c := &Confined{Caller: caller, be: h.backend()}
	run, err := prepare(c, op, stdin)
	if err != nil {
		return refuseWith(err)
	}
	if err := run(ctx); err != nil {
		if errors.Is(err, ErrRefused) {
			return refuseWith(err)
		}
		return reply(1, response{Error: err.Error()})
	}
	return reply(0, response{OK: true})
}

// prepare decodes the request of op and returns the call to make on c,
// which checks it against the caller's allotment before acting.
func prepare(c *Confined, op string, stdin io.Reader) (func(context.Context) error, error) {
	switch op {
	case opEnsureBridge:
		var r bridgeRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return c.EnsureBridge(ctx, r.Name, r.Gateway, r.Owner.owner(), !r.BlockHostAccess)
		}, nil
	case opBindTAP:
		var r bindRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		mac, err := net.ParseMAC(r.MAC)
		if err != nil {
			return nil, fmt.Errorf("bind tap %s: mac %q: %w", r.Name, r.MAC, err)
		}
		return func(ctx context.Context) error { return c.BindTAP(ctx, r.Name, r.Owner.owner(), mac, r.IP) }, nil
	case opCreateTAP:
		var r tapRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.CreateTAP(ctx, r.Name, r.Owner.owner(), r.GID, r.Bridge) }, nil
	case opDeleteTAP:
		var r tapRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		if r.GID != 0 || r.Bridge != "" {
			return nil, fmt.Errorf("delete tap %s: only a name and an owner are expected", r.Name)
		}
		return func(ctx context.Context) error { return c.DeleteTAP(ctx, r.Name, r.Owner.owner()) }, nil
	case opApplyNAT:
		var r natRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.ApplyNAT(ctx, r.rule()) }, nil
	case opRemoveNAT:
		var r natRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		if r.GuestIP.IsValid() || r.TAP != "" || r.Bridge != "" {
			return nil, fmt.Errorf("remove nat for vm %s: only vm_id and owner are expected", r.VMID)
		}
		return func(ctx context.Context) error { return c.RemoveNAT(ctx, r.Owner.owner(), r.VMID) }, nil
	case opReconcileNAT:
		var r reconcileRequest
		if err := decode(stdin, &r); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.ReconcileNAT(ctx, r.Owner.owner(), r.Keep) }, nil
	}
	return nil, fmt.Errorf("unknown privileged operation %q", op)
}
