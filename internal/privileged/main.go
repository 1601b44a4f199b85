package privileged

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"banger/internal/network"
	"banger/internal/network/nat"
)

// Main is the privileged helper: bangerd's hidden `priv` subcommand calls it
// with the arguments after `priv` (exactly one operation name), the request
// JSON on stdin, and writes one JSON line to stdout. It returns the process
// exit code: 0 done, 1 the operation failed, 2 the request was refused.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) int {
	h := helper{ops: NewLocal(), euid: os.Geteuid(), getenv: os.Getenv, inspect: network.InspectTAP}
	return h.main(ctx, args, stdin, stdout)
}

// helper is Main with its dependencies visible, so tests can drive it with
// a fake Ops, a chosen euid and a chosen sudo environment.
type helper struct {
	ops     Ops
	euid    int
	getenv  func(string) string
	inspect func(name string) (network.TAPInfo, error)
}

func (h helper) main(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) int {
	reply := func(code int, r response) int {
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "%s\n", b)
		return code
	}
	refuse := func(err error) int { return reply(2, response{Error: err.Error()}) }

	if len(args) != 1 {
		return refuse(fmt.Errorf("usage: priv <operation> (request JSON on stdin)"))
	}
	op := args[0]
	if op == opPing {
		if err := decode(stdin, &empty{}); err != nil {
			return refuse(err)
		}
		euid := h.euid
		return reply(0, response{OK: true, EUID: &euid})
	}
	if h.euid != 0 {
		return refuse(fmt.Errorf("privileged %s: the helper must run as root (euid is %d)", op, h.euid))
	}
	run, err := h.prepare(op, stdin)
	if err != nil {
		return refuse(err)
	}
	if err := run(ctx); err != nil {
		return reply(1, response{Error: err.Error()})
	}
	return reply(0, response{OK: true})
}

// prepare decodes and validates the request of op and returns the call to
// make. Nothing runs until everything has been checked.
func (h helper) prepare(op string, stdin io.Reader) (func(context.Context) error, error) {
	switch op {
	case opEnsureBridge:
		var r bridgeRequest
		if err := decodeValid(stdin, &r, func() error { return r.validate() }); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return h.ops.EnsureBridge(ctx, r.Name, r.Addr) }, nil
	case opCreateTAP:
		var r tapRequest
		if err := decodeValid(stdin, &r, func() error { return r.validateCreate() }); err != nil {
			return nil, err
		}
		if err := h.sameCaller(r.UID, r.GID); err != nil {
			return nil, fmt.Errorf("create tap %s: %w", r.Name, err)
		}
		return func(ctx context.Context) error { return h.ops.CreateTAP(ctx, r.Name, r.UID, r.GID, r.Bridge) }, nil
	case opDeleteTAP:
		var r tapRequest
		if err := decodeValid(stdin, &r, func() error { return r.validateDelete() }); err != nil {
			return nil, err
		}
		if r.UID != 0 || r.GID != 0 || r.Bridge != "" {
			return nil, fmt.Errorf("delete tap %s: only a name is expected", r.Name)
		}
		if info, err := h.inspect(r.Name); err == nil {
			if err := h.sameCaller(info.UID, info.GID); err != nil {
				return nil, fmt.Errorf("delete tap %s: %w", r.Name, err)
			}
		}
		return func(ctx context.Context) error { return h.ops.DeleteTAP(ctx, r.Name) }, nil
	case opApplyNAT:
		var r natRequest
		if err := decodeValid(stdin, &r, func() error { return r.rule().Validate() }); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return h.ops.ApplyNAT(ctx, r.rule()) }, nil
	case opRemoveNAT:
		var r natRequest
		if err := decodeValid(stdin, &r, func() error { return validateOnlyID(r) }); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return h.ops.RemoveNAT(ctx, r.VMID) }, nil
	case opReconcileNAT:
		var r reconcileRequest
		if err := decodeValid(stdin, &r, func() error { return r.validate() }); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return h.ops.ReconcileNAT(ctx, r.Keep) }, nil
	case opEnableForwarding:
		if err := decode(stdin, &empty{}); err != nil {
			return nil, err
		}
		return h.ops.EnableForwarding, nil
	}
	return nil, fmt.Errorf("unknown privileged operation %q", op)
}

// decodeValid decodes into v and then runs check. check must be a closure
// reading the decoded variable, not a method value: a method value on a
// value receiver would copy the variable before decoding.
func decodeValid(stdin io.Reader, v any, check func() error) error {
	if err := decode(stdin, v); err != nil {
		return err
	}
	return check()
}

// sameCaller refuses, under sudo, to hand a TAP to or take one from anyone
// but the invoking user: the sudoers rule lets that user run the helper as
// root, and it must not become a way to act on other users' devices.
// Without SUDO_UID the caller is root itself and may do anything.
func (h helper) sameCaller(uid, gid int) error {
	su, sg := h.getenv("SUDO_UID"), h.getenv("SUDO_GID")
	if su == "" {
		return nil
	}
	callerUID, err := strconv.Atoi(su)
	if err != nil {
		return fmt.Errorf("unreadable SUDO_UID %q", su)
	}
	callerGID, err := strconv.Atoi(sg)
	if err != nil {
		return fmt.Errorf("unreadable SUDO_GID %q", sg)
	}
	if uid != callerUID || gid != callerGID {
		return fmt.Errorf("owner %d:%d is not the invoking user %d:%d", uid, gid, callerUID, callerGID)
	}
	return nil
}

func validateOnlyID(r natRequest) error {
	if r.GuestIP.IsValid() || r.TAP != "" || r.Bridge != "" {
		return fmt.Errorf("remove nat for vm %s: only vm_id is expected", r.VMID)
	}
	return nat.ValidateVMID(r.VMID)
}
