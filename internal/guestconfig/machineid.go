package guestconfig

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// MachineIDPath is systemd's machine id. A base image ships it empty, so a
// created VM's systemd generates its own on first boot; a clone carries
// its source's and must be given a new one.
const MachineIDPath = "/etc/machine-id"

// NewMachineID returns a random machine id: 128 bits as 32 lower-case hex
// digits, as machine-id(5) describes.
func NewMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate machine id: %w", err)
	}
	// Mark it as a random (version 4) UUID, as systemd does.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b), nil
}

// MachineIDFile is the guest entry holding id.
func MachineIDFile(id string) File {
	return regular(MachineIDPath, 0o444, id+"\n")
}
