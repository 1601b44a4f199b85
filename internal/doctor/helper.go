package doctor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"banger/internal/paths"
)

// HelperProbe is what HelperCheck needs to know and run; the CLI fills it
// from the privileged package, tests with fakes.
type HelperProbe struct {
	Path          string // helper_path
	User          string // the user the sudoers rule is for
	Source        string // the bangerd binary to install as the helper
	DaemonVersion string // what that bangerd reports with --version
	Root          bool   // bangerd runs as root: no helper needed

	// CheckExe refuses a helper that is not root-owned in root-owned,
	// non-writable directories; NotInstalled is its error for a missing one.
	CheckExe     func(path string) error
	NotInstalled error
	Version      func(ctx context.Context, path string) (string, error)
	// Sudo runs the helper's no-op through `sudo -n`.
	Sudo func(ctx context.Context) error
	// Rule is the sudoers rule for User and Path.
	Rule func(user, path string) (string, error)
}

// HelperCheck reports the privileged helper's install state: installed
// root-owned in a root-only path, the same version as bangerd, and allowed
// by sudoers. Each failure's fix is the exact commands to run; the
// sudoers rule is only ever shown for a helper that passed CheckExe.
func HelperCheck(p HelperProbe) Check {
	return Func{CheckName: "privileged helper", CheckGroup: "network", Fn: func(ctx context.Context) (Status, string, string) {
		if p.Root {
			return Pass, "running as root: bridge, TAP and NAT changes run in-process (no helper or sudo needed)", ""
		}
		install := helperInstallCommands(p.Source, p.Path)
		if err := p.CheckExe(p.Path); err != nil {
			if p.NotInstalled != nil && errors.Is(err, p.NotInstalled) {
				return Fail, fmt.Sprintf("no privileged helper at %s: bridge, TAP and NAT changes need root, and bangerd runs them only through a root-owned copy of itself", p.Path), install
			}
			fix := install
			if p.Path != paths.DefaultHelper {
				fix = "set helper_path to a path whose directories are all root-owned (the default is " + paths.DefaultHelper + "), then: " + helperInstallCommands(p.Source, paths.DefaultHelper)
			}
			return Fail, "the helper cannot be trusted with sudo, so no sudoers rule is offered for it: " + err.Error(), fix
		}
		hv, err := p.Version(ctx, p.Path)
		if err != nil {
			return Fail, err.Error(), install
		}
		if p.DaemonVersion != "" && hv != p.DaemonVersion {
			return Fail, fmt.Sprintf("the helper %s is version %s but bangerd is %s: `make install` updated bangerd and left the old helper behind", p.Path, hv, p.DaemonVersion), install
		}
		if err := p.Sudo(ctx); err != nil {
			rule, rerr := p.Rule(p.User, p.Path)
			if rerr != nil {
				return Fail, "`sudo -n " + p.Path + " priv ping` fails: " + err.Error(), install
			}
			return Fail, "`sudo -n " + p.Path + " priv ping` fails: " + err.Error(),
				"run `sudo visudo -f /etc/sudoers.d/banger` and add these two lines:\n" + rule
		}
		return Pass, fmt.Sprintf("%s (version %s) runs as root through sudo -n", p.Path, hv), ""
	}}
}

// helperInstallCommands are the commands that install source as the
// root-owned helper at dst.
func helperInstallCommands(source, dst string) string {
	if source == "" {
		source = "./bangerd"
	}
	cmds := fmt.Sprintf("sudo install -d -o root -g root -m 0755 %s && sudo install -o root -g root -m 0755 %s %s",
		shellQuote(filepath.Dir(dst)), shellQuote(source), shellQuote(dst))
	if dst == paths.DefaultHelper {
		cmds += " (or `sudo make install-helper` in the source checkout)"
	}
	return cmds + "; then run `banger doctor` again for the sudoers rule"
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
