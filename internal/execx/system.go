package execx

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// SystemDirs are the only directories SystemTool looks in: root-owned on
// every distribution banger supports, and the same for every caller.
var SystemDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// SystemPATH is the PATH of commands run with Cmd.SystemEnv.
const SystemPATH = "/usr/sbin:/usr/bin:/sbin:/bin"

// SystemTool finds a host program that banger runs as root (iptables,
// nft): only in SystemDirs, never through the caller's PATH, and only a
// regular executable file that is owned by root and not writable by group
// or others. The privileged helper runs under sudo, where PATH is whatever
// sudo kept; a tool found through it would run as root from a directory
// the caller chose.
func SystemTool(name string) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("system tool %q: not a plain program name", name)
	}
	var refused error
	for _, dir := range SystemDirs {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if err := rootOwnedExecutable(p, st); err != nil {
			if refused == nil {
				refused = err
			}
			continue
		}
		return p, nil
	}
	if refused != nil {
		return "", refused
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotInSystemDirs)
}

// ErrNotInSystemDirs is a program missing from all of SystemDirs.
var ErrNotInSystemDirs = fmt.Errorf("not found in %s", SystemPATH)

func rootOwnedExecutable(p string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("system tool %s is not an executable file", p)
	case !ok || sys.Uid != 0:
		return fmt.Errorf("system tool %s is not owned by root", p)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("system tool %s is writable by group or others (mode %v)", p, st.Mode().Perm())
	}
	return nil
}
