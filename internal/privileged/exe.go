package privileged

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"banger/internal/execx"
)

// ErrHelperNotInstalled means there is no file at the helper path.
var ErrHelperNotInstalled = errors.New("privileged helper not installed")

// CheckExe reports whether exe is safe to name in a sudoers rule: a
// passwordless rule for exe is root for anyone who can replace exe, so exe
// must be a regular executable file owned by root and writable by no one
// else, and every directory above it, on the path as written and on the
// path its symlinks resolve to, must be owned by root and not writable by
// group or others. That refuses a bangerd in a home directory, anything
// under /tmp (sticky or not, others can create entries there), and
// /usr/local on Debian releases where it is group-writable by staff.
func CheckExe(exe string) error {
	if !filepath.IsAbs(exe) || filepath.Clean(exe) != exe {
		return fmt.Errorf("helper path %q is not a clean absolute path", exe)
	}
	unsafe := func(format string, args ...any) error {
		return fmt.Errorf("helper %s is unsafe for sudo: "+format, append([]any{exe}, args...)...)
	}
	if _, err := os.Lstat(exe); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: no file at %s", ErrHelperNotInstalled, exe)
		}
		return fmt.Errorf("check helper %s: %w", exe, err)
	}
	// The path as the sudoers rule names it: a writable directory on it
	// could swap any later component, a symlink included.
	if err := checkDirs(exe, unsafe); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return fmt.Errorf("resolve helper %s: %w", exe, err)
	}
	if real != exe {
		if err := checkDirs(real, unsafe); err != nil {
			return err
		}
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("check helper %s: %w", exe, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
		return unsafe("%s is not an executable file", real)
	case !ok:
		return unsafe("no owner information for %s", real)
	case sys.Uid != 0:
		return unsafe("%s is owned by %s, not root", real, userName(sys.Uid))
	case st.Mode().Perm()&0o022 != 0:
		return unsafe("%s is writable by %s (mode %04o)", real, writers(st, sys), permBits(st.Mode()))
	}
	return nil
}

// checkDirs checks every directory above p, up to /.
func checkDirs(p string, unsafe func(string, ...any) error) error {
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		st, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("check %s: %w", dir, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return unsafe("no owner information for %s", dir)
		}
		// A symlink's own mode means nothing (it cannot be changed, only
		// replaced through its directory, which is checked next); what it
		// points to is checked on the resolved path.
		isLink := st.Mode()&fs.ModeSymlink != 0
		switch {
		case sys.Uid != 0:
			return unsafe("%s is owned by %s, not root", dir, userName(sys.Uid))
		case !isLink && st.Mode().Perm()&0o022 != 0:
			// A sticky directory (/tmp) still lets others create and
			// replace their own entries, so it is refused too.
			return unsafe("%s is writable by %s (mode %04o)", dir, writers(st, sys), permBits(st.Mode()))
		}
		if dir == "/" {
			return nil
		}
	}
}

func writers(st os.FileInfo, sys *syscall.Stat_t) string {
	if st.Mode().Perm()&0o002 != 0 {
		return "everyone"
	}
	return "group " + groupName(sys.Gid)
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name + " (gid " + id + ")"
	}
	return "gid " + id
}

func permBits(m os.FileMode) uint32 {
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

// HelperVersion runs `helper --version` as the calling user (no sudo) and
// returns the version it reports, so doctor can tell when `make install`
// replaced bangerd but left an older helper behind.
func HelperVersion(ctx context.Context, helper string) (string, error) {
	out, err := execx.Cmd{Argv: []string{helper, "--version"}, SystemEnv: true}.Run(ctx)
	if err != nil {
		return "", fmt.Errorf("helper %s version: %w", helper, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "bangerd" {
		return "", fmt.Errorf("helper %s version: unexpected answer %q (want \"bangerd VERSION\")", helper, strings.TrimSpace(string(out)))
	}
	return f[1], nil
}
