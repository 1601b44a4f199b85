package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/paths"
	"banger/internal/systemd"
)

// serviceTarget is where the unit goes and which systemd manager runs it:
// the system's for root, the user's otherwise.
type serviceTarget struct {
	system bool
	dir    string
}

func (s serviceTarget) unitPath() string { return filepath.Join(s.dir, systemd.UnitName) }

func (s serviceTarget) manager() string {
	if s.system {
		return "system"
	}
	return "user"
}

func currentServiceTarget() (serviceTarget, error) {
	if os.Geteuid() == 0 {
		return serviceTarget{system: true, dir: paths.SystemUnitDir}, nil
	}
	dir, err := paths.UserUnitDir()
	return serviceTarget{dir: dir}, err
}

// serviceUnit is the unit for bin under target, carrying the environment
// that decides banger's directories and settings, so the service's bangerd
// serves the socket this CLI talks to.
func serviceUnit(bin string, target serviceTarget, environ []string) systemd.Unit {
	u := systemd.Unit{Exec: bin, System: target.system}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		switch {
		case k == "BANGER_DAEMON_BIN":
		case k == "XDG_RUNTIME_DIR" || k == "HOME":
			// The user manager sets both for a user unit; a system unit
			// gets them from here.
			if target.system {
				u.Env = append(u.Env, kv)
			}
			if k == "XDG_RUNTIME_DIR" && target.system && strings.HasPrefix(v, "/run/user/") {
				if uid := strings.TrimPrefix(v, "/run/user/"); isDigits(uid) {
					u.RuntimeDirUID = uid
				}
			}
		case strings.HasPrefix(k, "XDG_") && strings.HasSuffix(k, "_HOME"), strings.HasPrefix(k, "BANGER_"):
			u.Env = append(u.Env, kv)
		}
	}
	return u
}

func isDigits(s string) bool {
	_, err := strconv.Atoi(s)
	return s != "" && err == nil
}

func newDaemonEnableCmd(e *env) *cobra.Command {
	var now bool
	cmd := &cobra.Command{
		Use:   "enable [--now]",
		Short: "Run bangerd as a systemd service (a user unit; a system unit for root)",
		Long: `Write a systemd unit that runs bangerd, and enable it, so bangerd (and with
it the .vm DNS names) comes back at login (user unit) or boot (root) without a
banger command. With --now, also start it now (a bangerd already running is
stopped first; VMs keep running and are re-adopted). A user unit runs while
you are logged in; ` + "`loginctl enable-linger $USER`" + ` keeps it running without a session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return enableService(cmd.Context(), e, now)
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "start the service now too")
	return cmd
}

func newDaemonDisableCmd(e *env) *cobra.Command {
	var now bool
	cmd := &cobra.Command{
		Use:   "disable [--now]",
		Short: "Remove bangerd's systemd unit (--now also stops the service; VMs keep running)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return disableService(cmd.Context(), e, now)
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "stop the service now too")
	return cmd
}

func enableService(ctx context.Context, e *env, now bool) error {
	target, err := currentServiceTarget()
	if err != nil {
		return err
	}
	bin, err := daemonBinary()
	if err != nil {
		return err
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return fmt.Errorf("resolve bangerd: %w", err)
	}
	body := systemd.Render(serviceUnit(bin, target, os.Environ()))
	if err := os.MkdirAll(target.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", target.dir, err)
	}
	tmp := target.unitPath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write unit: %w", err)
	}
	if err := os.Rename(tmp, target.unitPath()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write unit: %w", err)
	}
	fmt.Fprintf(e.io.Out, "wrote %s\n", target.unitPath())
	if _, err := systemd.Systemctl(ctx, target.system, "daemon-reload"); err != nil {
		return fmt.Errorf("reload the %s manager: %w", target.manager(), err)
	}
	args := []string{"enable", systemd.UnitName}
	if now {
		// The service's bangerd would find the lock taken and exit.
		if _, ok := e.ExistingClient(ctx); ok {
			if err := stopDaemon(ctx, e); err != nil {
				return err
			}
		}
		args = []string{"enable", "--now", systemd.UnitName}
	}
	if _, err := systemd.Systemctl(ctx, target.system, args...); err != nil {
		return fmt.Errorf("enable %s: %w", systemd.UnitName, err)
	}
	fmt.Fprintf(e.io.Out, "enabled %s (%s unit)", systemd.UnitName, target.manager())
	if now {
		fmt.Fprint(e.io.Out, " and started it")
	}
	fmt.Fprintln(e.io.Out)
	return nil
}

func disableService(ctx context.Context, e *env, now bool) error {
	target, err := currentServiceTarget()
	if err != nil {
		return err
	}
	if _, err := os.Stat(target.unitPath()); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.io.Out, "bangerd is not enabled as a %s service (no %s)\n", target.manager(), target.unitPath())
		return nil
	}
	args := []string{"disable", systemd.UnitName}
	if now {
		args = []string{"disable", "--now", systemd.UnitName}
	}
	if _, err := systemd.Systemctl(ctx, target.system, args...); err != nil {
		return fmt.Errorf("disable %s: %w", systemd.UnitName, err)
	}
	if err := os.Remove(target.unitPath()); err != nil {
		return fmt.Errorf("remove unit: %w", err)
	}
	if _, err := systemd.Systemctl(ctx, target.system, "daemon-reload"); err != nil {
		return fmt.Errorf("reload the %s manager: %w", target.manager(), err)
	}
	fmt.Fprintf(e.io.Out, "disabled and removed %s\n", target.unitPath())
	return nil
}

// serviceState is the "service:" line of `daemon status`.
func serviceState(ctx context.Context) string {
	target, err := currentServiceTarget()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if _, err := os.Stat(target.unitPath()); err != nil {
		return "not enabled (`banger daemon enable` runs bangerd as a " + target.manager() + " service)"
	}
	state, err := systemd.Enabled(ctx, target.system)
	if err != nil {
		return "unit " + target.unitPath() + " written; systemctl cannot say whether it is enabled"
	}
	return state + " (" + target.manager() + " unit " + target.unitPath() + ")"
}
