package paths

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// UnsafeRuntimeDirError is a /tmp fallback runtime directory that banger
// refuses to use: /tmp is shared, so another user can create
// /tmp/banger-<uid> first (or a symlink by that name) and then read or
// replace the API socket inside it.
type UnsafeRuntimeDirError struct {
	Dir     string
	Problem string // e.g. "is owned by mallory (uid 1001), not by you (uid 1000)"
	UID     int    // the user banger runs as
}

func (e *UnsafeRuntimeDirError) Error() string {
	return fmt.Sprintf("runtime directory %s %s; banger only uses a real directory owned by you with mode 0700: remove it (as its owner or root) or set XDG_RUNTIME_DIR to a private directory such as /run/user/%d",
		e.Dir, e.Problem, e.UID)
}

// CheckRuntimeDir refuses a /tmp fallback runtime directory that exists and
// is not a real directory owned by this user with mode 0700 (see
// UnsafeRuntimeDirError). A missing directory is fine: there is nothing to
// connect to yet, and EnsureDirs creates it. Under XDG_RUNTIME_DIR, which
// is private to the user already, there is nothing to check.
func (l Layout) CheckRuntimeDir() error {
	if !l.RuntimeFallback {
		return nil
	}
	err := checkPrivateDir(l.RuntimeDir, os.Getuid())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// ensureFallbackRuntimeDir creates the /tmp fallback runtime directory
// 0700 if it is absent, then checks it like CheckRuntimeDir. It never
// follows a symlink and never chmods a directory it did not create: a
// directory someone else could write to may already hold their files.
func ensureFallbackRuntimeDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		// The umask may have taken bits we want; only our own fresh
		// directory is adjusted.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s to 0700: %w", dir, err)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return checkPrivateDir(dir, os.Getuid())
}

// checkPrivateDir reports whether dir is a directory (not a symlink to
// one) owned by uid with mode 0700. A missing dir wraps os.ErrNotExist.
func checkPrivateDir(dir string, uid int) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check runtime directory %s: %w", dir, err)
	}
	bad := func(format string, args ...any) error {
		return &UnsafeRuntimeDirError{Dir: dir, Problem: fmt.Sprintf(format, args...), UID: uid}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return bad("has no owner information")
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(dir)
		return bad("is a symlink (to %s) owned by %s, not a directory", target, ownerName(sys.Uid))
	case !st.IsDir():
		return bad("is not a directory (it is a %v owned by %s)", st.Mode().Type(), ownerName(sys.Uid))
	case int(sys.Uid) != uid:
		return bad("is owned by %s, not by you (uid %d)", ownerName(sys.Uid), uid)
	case st.Mode().Perm() != 0o700 || st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0:
		return bad("has mode %04o, not 0700 (others may have put files in it)", unixPermBits(st.Mode()))
	}
	return nil
}

func ownerName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

func unixPermBits(m os.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}
