package guestconfig

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// NewHostKey generates an ed25519 host key: the private key in OpenSSH PEM
// form (what sshd reads) and the public key as an authorized_keys-style line.
func NewHostKey() (privPEM []byte, pub string, err error) {
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(sk, "")
	if err != nil {
		return nil, "", fmt.Errorf("encode host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pk)
	if err != nil {
		return nil, "", fmt.Errorf("encode host public key: %w", err)
	}
	return pem.EncodeToMemory(block), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// KnownHostsLine returns the known_hosts line trusting pub (as returned by
// NewHostKey) for hosts, e.g. {"calm-otter.vm", "172.30.0.5"}. Hosts with a
// port other than 22 ("172.30.0.5:2222") are written in OpenSSH's
// "[host]:port" form.
func KnownHostsLine(hosts []string, pub string) string {
	norm := make([]string, len(hosts))
	for i, h := range hosts {
		norm[i] = knownhosts.Normalize(h)
	}
	fields := strings.Fields(pub)
	if len(fields) > 2 {
		fields = fields[:2] // drop the comment
	}
	return strings.Join(norm, ",") + " " + strings.Join(fields, " ")
}
