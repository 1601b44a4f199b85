package privileged

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"banger/internal/execx"
	"banger/internal/network"
	"banger/internal/network/nat"
)

// ErrSudoDenied means `sudo -n` refused to run the helper without a
// password: the sudoers rule from SudoersLine is missing.
var ErrSudoDenied = errors.New("sudo -n refused to run the privileged helper (no passwordless sudoers rule)")

// Sudo runs each operation as `sudo -n <Exe> priv <op>` with the request as
// JSON on stdin. -n makes sudo fail instead of prompting: bangerd has no
// terminal.
type Sudo struct {
	// Exe is the absolute path of the root-owned helper binary (bangerd
	// installed by `make install-helper`) whose `priv` subcommand calls
	// Main; it must match the path in the sudoers rule.
	Exe string
	// Prefix replaces {"sudo", "-n"} (tests run the helper through
	// `ip netns exec <ns>` instead). With the default prefix Exe must pass
	// CheckExe before it is run.
	Prefix []string
	// Env is added to the helper's environment.
	Env []string

	// natMu serialises NAT changes, as nat.Manager does in process: each
	// call is a separate helper process, and two concurrent first Applies
	// would both add the jump into the banger chains.
	natMu sync.Mutex
}

func (s *Sudo) EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, o network.Owner, hostAccess bool) error {
	return s.call(ctx, opEnsureBridge, bridgeRequest{Name: name, Gateway: gateway, Owner: wireOwner(o), BlockHostAccess: !hostAccess}, nil)
}

func (s *Sudo) BindTAP(ctx context.Context, name string, o network.Owner, mac net.HardwareAddr, ip netip.Addr) error {
	return s.call(ctx, opBindTAP, bindRequest{Name: name, Owner: wireOwner(o), MAC: mac.String(), IP: ip}, nil)
}

func (s *Sudo) CreateTAP(ctx context.Context, name string, o network.Owner, gid int, bridge string) error {
	return s.call(ctx, opCreateTAP, tapRequest{Name: name, Owner: wireOwner(o), GID: gid, Bridge: bridge}, nil)
}

func (s *Sudo) DeleteTAP(ctx context.Context, name string, o network.Owner) error {
	return s.call(ctx, opDeleteTAP, tapRequest{Name: name, Owner: wireOwner(o)}, nil)
}

func (s *Sudo) ApplyNAT(ctx context.Context, rule nat.Rule) error {
	s.natMu.Lock()
	defer s.natMu.Unlock()
	req := natRequest{Owner: wireOwner(rule.Owner), VMID: rule.VMID, GuestIP: rule.GuestIP, TAP: rule.TAP, Bridge: rule.Bridge}
	return s.call(ctx, opApplyNAT, req, nil)
}

func (s *Sudo) RemoveNAT(ctx context.Context, o network.Owner, vmID string) error {
	s.natMu.Lock()
	defer s.natMu.Unlock()
	return s.call(ctx, opRemoveNAT, natRequest{Owner: wireOwner(o), VMID: vmID}, nil)
}

func (s *Sudo) ReconcileNAT(ctx context.Context, o network.Owner, keep []string) error {
	s.natMu.Lock()
	defer s.natMu.Unlock()
	if keep == nil {
		keep = []string{}
	}
	return s.call(ctx, opReconcileNAT, reconcileRequest{Owner: wireOwner(o), Keep: keep}, nil)
}

// Ping runs the helper's no-op and checks that it really runs as root.
func (s *Sudo) Ping(ctx context.Context) error {
	var resp response
	if err := s.call(ctx, opPing, empty{}, &resp); err != nil {
		return err
	}
	if resp.EUID == nil || *resp.EUID != 0 {
		return fmt.Errorf("privileged helper %s does not run as root", s.Exe)
	}
	return nil
}

func (s *Sudo) call(ctx context.Context, op string, req any, out *response) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("privileged %s: encode request: %w", op, err)
	}
	prefix := s.Prefix
	if prefix == nil {
		// Refuse to run a helper anyone but root could have replaced, even
		// if some sudoers rule allows it.
		if err := CheckExe(s.Exe); err != nil {
			return fmt.Errorf("privileged %s: %w", op, err)
		}
		sudo, err := execx.SystemTool("sudo")
		if err != nil {
			return fmt.Errorf("privileged %s: %w", op, err)
		}
		prefix = []string{sudo, "-n"}
	}
	argv := append(append([]string(nil), prefix...), s.Exe, "priv", op)
	stdout, runErr := execx.Cmd{Argv: argv, Stdin: body, Env: s.Env}.Run(ctx)

	// The helper answers with one JSON line even when it exits non-zero;
	// no readable answer means sudo (or the exec) failed before it ran.
	var resp response
	if line := lastLine(stdout); line != nil && json.Unmarshal(line, &resp) == nil && (resp.OK || resp.Error != "") {
		if out != nil {
			*out = resp
		}
		if !resp.OK {
			return &HelperError{Op: op, Message: resp.Error}
		}
		return nil
	}
	if runErr == nil {
		return fmt.Errorf("privileged %s: unreadable reply %q from %s", op, stdout, s.Exe)
	}
	var xe *execx.Error
	if errors.As(runErr, &xe) && sudoRefused(xe.Stderr) {
		return fmt.Errorf("privileged %s: %w: %s", op, ErrSudoDenied, strings.TrimSpace(xe.Stderr))
	}
	return fmt.Errorf("privileged %s: %w", op, runErr)
}

// HelperError is an operation that the privileged helper ran and that
// failed; Message is the helper's error text.
type HelperError struct {
	Op      string
	Message string
}

func (e *HelperError) Error() string { return e.Message }

func sudoRefused(stderr string) bool {
	for _, s := range []string{"a password is required", "is not allowed to execute", "not in the sudoers file", "a terminal is required"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if last := bytes.TrimSpace(lines[len(lines)-1]); len(last) > 0 {
		return last
	}
	return nil
}

// SudoersRule is the sudoers rule that lets user run helper's privileged
// subcommand without a password, for `banger doctor` to print, e.g.
//
//	Defaults!/usr/libexec/banger/bangerd env_reset,secure_path="/usr/sbin:/usr/bin:/sbin:/bin"
//	alice ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *
//
// The first line makes sure the helper gets a clean environment and a fixed
// PATH whatever the site's defaults are. The rule grants root to whoever
// can replace helper, so SudoersRule refuses (with CheckExe's error) a
// helper that is not root-owned in root-owned directories.
func SudoersRule(user, helper string) (string, error) {
	if err := CheckExe(helper); err != nil {
		return "", err
	}
	return sudoersRule(user, helper), nil
}

func sudoersRule(user, exe string) string {
	e := sudoersEscape(exe)
	return fmt.Sprintf("Defaults!%s env_reset,secure_path=\"%s\"\n%s ALL=(root) NOPASSWD: %s priv *",
		e, execx.SystemPATH, sudoersUser(user), e)
}

func sudoersUser(user string) string {
	if uid, ok := strings.CutPrefix(user, "#"); ok && uid != "" && strings.Trim(uid, "0123456789") == "" {
		return user // #uid, sudoers' form for a user by number
	}
	for _, r := range user {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(user) + `"`
		}
	}
	return user
}

// sudoersEscape escapes the characters sudoers treats specially in a
// command path.
func sudoersEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\ ,:=()!*?[]`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CheckSudo reports whether the privileged operations can run: as root
// they run in process; otherwise exe must pass CheckExe and
// `sudo -n <exe> priv ping` must succeed and answer from euid 0. A missing
// rule wraps ErrSudoDenied, so doctor can print SudoersRule.
func CheckSudo(ctx context.Context, exe string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return (&Sudo{Exe: exe}).Ping(ctx)
}
