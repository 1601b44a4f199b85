package network

import (
	"fmt"
	"strconv"
	"strings"
)

// Owner is the banger installation a link or rule belongs to: the user it
// runs as and the installation's stable id (kept in its state dir). Two
// installations of one user, or two users, never act on each other's
// objects: bangerd lists and reconciles only its own, and the privileged
// helper refuses to delete another uid's.
type Owner struct {
	UID          int
	Installation string
}

const tagPrefix = "banger:u"

// Tag is how an owner is written on links (their alias) and rules (their
// comment): banger:u<uid>:i<installation>.
func (o Owner) Tag() string { return tagPrefix + strconv.Itoa(o.UID) + ":i" + o.Installation }

func (o Owner) String() string {
	return fmt.Sprintf("uid %d, installation %s", o.UID, o.Installation)
}

// Validate checks an owner before it is written anywhere: a uid in range
// and an installation id of 8-32 lowercase hex digits.
func (o Owner) Validate() error {
	if o.UID < 0 || o.UID > 1<<31-2 {
		return fmt.Errorf("owner uid %d out of range", o.UID)
	}
	if n := len(o.Installation); n < 8 || n > 32 {
		return fmt.Errorf("installation id %q must be 8-32 hex digits", o.Installation)
	}
	for _, r := range o.Installation {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return fmt.Errorf("installation id %q must be 8-32 hex digits", o.Installation)
		}
	}
	return nil
}

// ParseTag reads a tag written by Tag; ok is false for anything else.
func ParseTag(s string) (o Owner, ok bool) {
	rest, ok := strings.CutPrefix(s, tagPrefix)
	if !ok {
		return Owner{}, false
	}
	uid, inst, ok := strings.Cut(rest, ":i")
	if !ok {
		return Owner{}, false
	}
	n, err := strconv.Atoi(uid)
	if err != nil {
		return Owner{}, false
	}
	o = Owner{UID: n, Installation: inst}
	return o, o.Validate() == nil
}
