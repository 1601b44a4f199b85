package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/atomicfile"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/paths"
	"banger/internal/store"
)

// Each VM has an agent token: create writes it into the overlay (root-only
// in the guest) and into the VM's directory (0600, in a 0700 directory),
// and the agent answers only requests that carry it. Another local user
// who can reach the guest's vsock port (every user can, with vhost-vsock)
// cannot use the agent.

// newAgentToken makes a VM's token and keeps the host's copy in dir.
func newAgentToken(dir paths.VMDir) (string, error) {
	tok, err := guestconfig.NewAgentToken()
	if err != nil {
		return "", err
	}
	if err := writeAgentToken(dir, tok); err != nil {
		return "", err
	}
	return tok, nil
}

// writeAgentToken writes the host's copy atomically, so a crash never
// leaves a truncated token behind.
func writeAgentToken(dir paths.VMDir, tok string) error {
	if err := atomicfile.Write(dir.AgentToken(), []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	return nil
}

// readAgentToken returns the host's copy of a VM's token. A VM created
// before agent tokens has none until its next start: ok is false then, and
// such a VM's agent (an older one, booted without a token) needs none.
func readAgentToken(dir paths.VMDir) (tok string, ok bool, err error) {
	b, err := os.ReadFile(dir.AgentToken())
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read agent token: %w", err)
	}
	tok = strings.TrimSpace(string(b))
	if err := guestconfig.ValidateAgentToken(tok); err != nil {
		return "", false, fmt.Errorf("agent token %s: %w", dir.AgentToken(), err)
	}
	return tok, true, nil
}

// syncAgentToken writes the host's copy of a stopped VM's token into its
// overlay before a start, so a guest whose copy was changed or removed
// gets it back, and gives a VM created before agent tokens existed its
// first one (into the overlay first, then the host's copy, so an
// interrupted attempt is simply repeated at the next start).
func (d *Daemon) syncAgentToken(ctx context.Context, v *store.VM) error {
	dir := d.vmDir(v.ID)
	tok, ok, err := readAgentToken(dir)
	if err != nil {
		return err
	}
	if !ok {
		if tok, err = guestconfig.NewAgentToken(); err != nil {
			return err
		}
	}
	files, err := guestconfig.AgentTokenFiles(tok)
	if err != nil {
		return err
	}
	if err := disk.WriteFiles(ctx, dir.Overlay(), disk.UpperDir, files); err != nil {
		return fmt.Errorf("write agent token of vm %s: %w", v.Name, err)
	}
	if ok {
		return nil
	}
	if err := writeAgentToken(dir, tok); err != nil {
		return err
	}
	d.log.Info("vm given an agent token", "vm", v.Name)
	return nil
}

// restrictVMDir makes a VM's directory private (0700) and every socket in
// it 0600. The VMM creates its sockets with its umask; the directory's
// mode is what keeps other users out in the meantime.
func restrictVMDir(dir paths.VMDir) error {
	if err := os.Chmod(dir.String(), 0o700); err != nil {
		return fmt.Errorf("restrict vm dir: %w", err)
	}
	for _, s := range dir.Sockets() {
		st, err := os.Lstat(s)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("restrict socket: %w", err)
		}
		if st.Mode().Type() != fs.ModeSocket || st.Mode().Perm() == 0o600 {
			continue
		}
		if err := os.Chmod(s, 0o600); err != nil {
			return fmt.Errorf("restrict socket %s: %w", filepath.Base(s), err)
		}
	}
	return nil
}
