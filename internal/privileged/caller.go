package privileged

import (
	"fmt"
	"os"
	"strconv"

	"banger/internal/network/allotment"
)

// Caller is whom the privileged operations act for, and what they may use.
type Caller struct {
	UID, GID int
	Allot    allotment.Allotment
}

// env is the environment variables the caller's identity is read from.
type env func(string) string

// callerFrom works out the caller: the user who ran sudo (SUDO_UID and
// SUDO_GID), or this process itself when not run through sudo. The policy
// file is /etc/banger/helper.toml; BANGER_HELPER_CONFIG may name another
// only when not run through sudo, since under sudo it would be the caller
// choosing its own allotment.
func callerFrom(getenv env, euid, egid int) (Caller, error) {
	c := Caller{UID: euid, GID: egid}
	path := allotment.DefaultPath
	if su := getenv("SUDO_UID"); su != "" {
		uid, err := strconv.Atoi(su)
		if err != nil || uid < 0 {
			return Caller{}, fmt.Errorf("unreadable SUDO_UID %q", su)
		}
		gid, err := strconv.Atoi(getenv("SUDO_GID"))
		if err != nil || gid < 0 {
			return Caller{}, fmt.Errorf("unreadable SUDO_GID %q", getenv("SUDO_GID"))
		}
		c.UID, c.GID = uid, gid
	} else if p := getenv("BANGER_HELPER_CONFIG"); p != "" {
		path = p
	}
	pol, err := allotment.Load(path, true)
	if err != nil {
		return Caller{}, err
	}
	c.Allot = pol.For(c.UID)
	return c, nil
}

// Self is the caller for operations run in this (root) process.
func Self() (Caller, error) { return callerFrom(os.Getenv, os.Geteuid(), os.Getegid()) }
