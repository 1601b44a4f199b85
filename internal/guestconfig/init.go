package guestconfig

import (
	"fmt"
	"path"
)

// Init is the init system of an image's rootfs: which service layer the
// guest files are rendered for. Everything below the service layer (address,
// route, hostname, /root, Docker's data) is set up by banger's initrd and is
// the same for every init.
type Init string

// The inits banger renders guest files for.
const (
	InitSystemd Init = "systemd"
	InitRunit   Init = "runit"
)

// Inits lists the supported inits, for messages.
var Inits = []Init{InitSystemd, InitRunit}

// ParseInit accepts the name of a supported init.
func ParseInit(s string) (Init, error) {
	for _, i := range Inits {
		if s == string(i) {
			return i, nil
		}
	}
	return "", fmt.Errorf("init %q is not supported: use %s or %s", s, InitSystemd, InitRunit)
}

// InitFromPath names the init whose binary is p, the path /sbin/init
// resolves to inside a rootfs (every symlink followed): systemd's
// /lib/systemd/systemd, Debian's /lib/runit/runit-init, Void's
// /usr/bin/runit-init (or runit itself).
func InitFromPath(p string) (Init, error) {
	switch path.Base(p) {
	case "systemd":
		return InitSystemd, nil
	case "runit-init", "runit":
		return InitRunit, nil
	}
	return "", fmt.Errorf("/sbin/init is %s, which is neither systemd nor runit: banger renders guest configuration for %s and %s only (pass --init if the image runs one of them)", p, InitSystemd, InitRunit)
}

// orDefault is i, or systemd for an image recorded before banger detected
// inits (every image then was a systemd one).
func (i Init) orDefault() Init {
	if i == "" {
		return InitSystemd
	}
	return i
}
