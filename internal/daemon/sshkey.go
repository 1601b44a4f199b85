package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"banger/internal/atomicfile"
	"banger/internal/paths"
)

// ensureSSHKey creates this installation's SSH key pair on first use. No
// key is ever shipped in or read from a runtime bundle: a shared private
// key would let anyone with the bundle into every VM.
func ensureSSHKey(_ context.Context, l paths.Layout) error {
	if _, err := os.Stat(l.SSHKey()); err == nil {
		return nil
	}
	if err := os.MkdirAll(l.SSHDir(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", l.SSHDir(), err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "banger")
	if err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	// The public key goes first: the private key's presence is what says
	// the pair exists.
	pubLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " banger\n"
	if err := atomicfile.Write(l.SSHKey()+".pub", []byte(pubLine), 0o644); err != nil {
		return fmt.Errorf("ssh public key: %w", err)
	}
	if err := atomicfile.Write(l.SSHKey(), pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("ssh key: %w", err)
	}
	return nil
}

// installationPublicKey returns the authorized_keys line of the
// installation key.
func installationPublicKey(l paths.Layout) (string, error) {
	b, err := os.ReadFile(l.SSHKey() + ".pub")
	if err != nil {
		return "", fmt.Errorf("read installation ssh key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
