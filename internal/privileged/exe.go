package privileged

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckExe reports whether exe is safe to name in a sudoers rule: a
// passwordless rule for exe is root for anyone who can replace exe, so exe
// and every directory above it must be owned by root and writable by no
// one else. A bangerd run from a source checkout in a home directory fails
// this check; install it (e.g. under /usr/local/bin) first.
func CheckExe(exe string) error {
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("helper path %q is not absolute", exe)
	}
	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return fmt.Errorf("resolve helper %s: %w", exe, err)
	}
	for p := real; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check helper %s: %w", exe, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("check helper %s: no owner information for %s", exe, p)
		}
		if sys.Uid != 0 {
			return fmt.Errorf("helper %s is unsafe for sudo: %s is owned by uid %d, not root", exe, p, sys.Uid)
		}
		// A sticky directory (/tmp) still lets others replace their own
		// entries, so it is no better than a writable one here.
		if st.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("helper %s is unsafe for sudo: %s is writable by group or others (mode %v)", exe, p, st.Mode().Perm())
		}
		if p == "/" {
			return nil
		}
	}
}
