package guestconfig

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ValidateHostname reports whether name is usable as the guest hostname and
// its <name>.vm DNS label: 1–63 characters of lower-case letters, digits and
// '-', not starting or ending with '-'.
func ValidateHostname(name string) error {
	if name == "" {
		return errors.New("hostname is empty")
	}
	if len(name) > 63 {
		return fmt.Errorf("hostname %q is %d characters long; the limit is 63", name, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i != 0 && i != len(name)-1:
		default:
			return fmt.Errorf("hostname %q is invalid: use lower-case letters, digits and '-' (not first or last)", name)
		}
	}
	return nil
}

// validLabel accepts ext4 labels that need no escaping in /dev/disk/by-label.
func validLabel(l string) error {
	if len(l) > 16 {
		return fmt.Errorf("work disk label %q is longer than ext4's 16 bytes", l)
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("work disk label %q is invalid: use letters, digits, '-', '_' and '.'", l)
		}
	}
	return nil
}

func (c Config) validate() error {
	if err := ValidateHostname(c.Hostname); err != nil {
		return err
	}
	if len(c.MAC) != 6 {
		return fmt.Errorf("guest MAC %q is not a 6-byte Ethernet address", c.MAC)
	}
	if c.MAC[0]&1 != 0 {
		return fmt.Errorf("guest MAC %s is a multicast address", c.MAC)
	}
	if !c.Address.IsValid() || !c.Address.Addr().Is4() {
		return fmt.Errorf("guest address %v is not an IPv4 prefix like 172.30.0.5/24", c.Address)
	}
	if c.Address.Bits() < 1 || c.Address.Bits() > 30 {
		return fmt.Errorf("guest address %v: prefix length must be between 1 and 30", c.Address)
	}
	if c.Address.Masked().Addr() == c.Address.Addr() {
		return fmt.Errorf("guest address %v is the network address", c.Address)
	}
	if !c.Gateway.IsValid() || !c.Gateway.Is4() {
		return fmt.Errorf("gateway %v is not an IPv4 address", c.Gateway)
	}
	if !c.Address.Contains(c.Gateway) {
		return fmt.Errorf("gateway %v is outside the guest network %v", c.Gateway, c.Address.Masked())
	}
	if c.Gateway == c.Address.Addr() {
		return fmt.Errorf("gateway %v is the guest's own address", c.Gateway)
	}
	for _, d := range c.DNS {
		switch {
		case !d.IsValid() || d.IsUnspecified():
			return fmt.Errorf("DNS server %v is not a usable address", d)
		case !d.Is4():
			return fmt.Errorf("DNS server %v is IPv6; the guest network is IPv4 only", d)
		case d.IsLoopback():
			return fmt.Errorf("DNS server %v is a loopback address: inside the guest it would be the guest itself", d)
		}
	}
	if len(c.AuthorizedKeys) == 0 {
		return errors.New("no authorized keys: the VM would be unreachable over ssh")
	}
	for i, k := range c.AuthorizedKeys {
		if err := oneKeyLine(k); err != nil {
			return fmt.Errorf("authorized key %d: %w", i+1, err)
		}
	}
	if err := checkHostKey(c.HostKey, c.HostKeyPub); err != nil {
		return err
	}
	if c.WorkDiskLabel != "" {
		if err := validLabel(c.WorkDiskLabel); err != nil {
			return err
		}
	}
	if c.Init != "" {
		if _, err := ParseInit(string(c.Init)); err != nil {
			return err
		}
	}
	return ValidateAgentToken(c.AgentToken)
}

// oneKeyLine accepts exactly one authorized_keys line: an embedded newline
// would let one entry smuggle in another.
func oneKeyLine(line string) error {
	line = strings.TrimSpace(line)
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("contains a line break")
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
		return fmt.Errorf("parse %q: %w", shorten(line), err)
	}
	return nil
}

func checkHostKey(priv []byte, pub string) error {
	if len(priv) == 0 {
		return errors.New("host key is empty")
	}
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		return fmt.Errorf("parse host key: %w", err)
	}
	if signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		return fmt.Errorf("host key is %s; banger writes it as the ed25519 host key", signer.PublicKey().Type())
	}
	if err := oneKeyLine(pub); err != nil {
		return fmt.Errorf("host public key: %w", err)
	}
	pk, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(pub)))
	if !bytes.Equal(pk.Marshal(), signer.PublicKey().Marshal()) {
		return errors.New("host public key does not belong to the host private key")
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
