package paths

import (
	"errors"
	"os"
	"path/filepath"
)

// SSHConfig is the OpenSSH client config bangerd keeps, one Host entry per
// VM; `banger ssh-config --install` Includes it from the user's own.
func (l Layout) SSHConfig() string { return filepath.Join(l.SSHDir(), "config") }

// UserSSHConfig is the user's own OpenSSH client config, ~/.ssh/config.
func UserSSHConfig() (string, error) {
	home := os.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find the home directory: set HOME")
		}
		home = h
	}
	return filepath.Join(home, ".ssh", "config"), nil
}

// UserSSHConfigBackup is where the text ~/.ssh/config had before banger
// last edited it.
func UserSSHConfigBackup(userConfig string) string { return userConfig + ".banger-backup" }
