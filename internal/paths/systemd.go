package paths

import (
	"errors"
	"os"
	"path/filepath"
)

// SystemUnitDir is where `banger daemon enable` run as root writes
// bangerd's system unit.
const SystemUnitDir = "/etc/systemd/system"

// UserUnitDir is the user's systemd unit directory,
// $XDG_CONFIG_HOME/systemd/user.
func UserUnitDir() (string, error) {
	if v := os.Getenv("XDG_CONFIG_HOME"); v != "" && filepath.IsAbs(v) {
		return filepath.Join(v, "systemd", "user"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find the home directory: set HOME")
		}
		home = h
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}
