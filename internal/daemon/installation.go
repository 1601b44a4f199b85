package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"banger/internal/network"
)

// installationOwner is this installation's identity on the host's network:
// the user bangerd runs as and an id made once and kept in the state dir.
// Every TAP, bridge claim and NAT rule carries it, so two installations
// (two users, or one user with two state dirs) never reconcile each
// other's objects away.
func installationOwner(path string) (network.Owner, error) {
	o := network.Owner{UID: os.Getuid()}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		o.Installation = strings.TrimSpace(string(b))
		if err := o.Validate(); err != nil {
			return network.Owner{}, fmt.Errorf("%s: %w (remove the file to make a new one; TAPs and NAT rules of the old id are then left to the administrator)", path, err)
		}
		return o, nil
	case !errors.Is(err, os.ErrNotExist):
		return network.Owner{}, fmt.Errorf("read installation id: %w", err)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return network.Owner{}, err
	}
	o.Installation = hex.EncodeToString(r[:])
	// Only one bangerd runs per state dir (it holds the daemon lock), so
	// an exclusive create cannot race with another writer.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.WriteString(o.Installation + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return network.Owner{}, fmt.Errorf("write installation id: %w", err)
	}
	return o, nil
}
