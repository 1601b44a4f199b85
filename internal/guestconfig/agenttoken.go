package guestconfig

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"banger/internal/agent/agentproto"
)

// AgentTokenPath is where the VM's agent token goes in the guest: root
// only, so an unprivileged guest process cannot present it either.
const AgentTokenPath = agentproto.TokenPath

// agentTokenLen is the length of a token NewAgentToken makes.
const agentTokenLen = 64

// NewAgentToken returns a fresh agent token: 32 random bytes, hex.
func NewAgentToken() (string, error) {
	b := make([]byte, agentTokenLen/2)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate agent token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ValidateAgentToken accepts exactly what NewAgentToken makes.
func ValidateAgentToken(tok string) error {
	if len(tok) != agentTokenLen {
		return fmt.Errorf("agent token is %d characters long; want %d hex digits", len(tok), agentTokenLen)
	}
	for _, c := range []byte(tok) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("agent token has a character other than 0-9 and a-f")
		}
	}
	return nil
}

// AgentTokenFiles are the guest entries that hold tok: what Render writes
// for it, for giving a VM made before agent tokens existed its token.
func AgentTokenFiles(tok string) ([]File, error) {
	if err := ValidateAgentToken(tok); err != nil {
		return nil, err
	}
	return agentTokenFiles(tok), nil
}

func agentTokenFiles(tok string) []File {
	return []File{
		{Path: "/etc/banger", Mode: 0o755, Dir: true},
		{Path: AgentTokenPath, Mode: 0o600, Content: []byte(tok + "\n")},
	}
}
