package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"banger/internal/paths"
	"banger/internal/sshconfig"
)

func newSSHConfigCmd(e *env) *cobra.Command {
	var install, uninstall bool
	cmd := &cobra.Command{
		Use:   "ssh-config [REF]",
		Short: "Print the OpenSSH config bangerd keeps for its VMs, or Include it from ~/.ssh/config",
		Long: `bangerd keeps an OpenSSH client config with one entry per VM (Host NAME NAME.vm,
its address, user root, this installation's key and banger's known_hosts with
strict host key checking). With --install, ~/.ssh/config Includes it, so that
ssh, scp, rsync, git and editors' remote-SSH features reach VMs by name.`,
		Example: `  banger ssh-config
  banger ssh-config calm-otter
  banger ssh-config --install     # then: ssh calm-otter
  banger ssh-config --uninstall`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeVMs(e),
		RunE: func(cmd *cobra.Command, args []string) error {
			if install && uninstall {
				return usagef("--install and --uninstall cannot be used together")
			}
			if (install || uninstall) && len(args) > 0 {
				return usagef("--install and --uninstall take no VM ref, got %q", args[0])
			}
			l, err := e.Layout()
			if err != nil {
				return err
			}
			if install || uninstall {
				return editUserSSHConfig(e, l, install)
			}
			// The daemon writes the file; make sure one runs and has.
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				vm, err := c.GetVM(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				name = vm.Name
			}
			b, err := os.ReadFile(l.SSHConfig())
			if err != nil {
				return fmt.Errorf("read ssh config: %w", err)
			}
			if name == "" {
				_, err = e.io.Out.Write(b)
				return err
			}
			entry, ok := sshconfig.Select(b, name)
			if !ok {
				return fmt.Errorf("%s has no entry for vm %s; bangerd rewrites it on its next start (`banger daemon stop`, then any banger command)", l.SSHConfig(), name)
			}
			_, err = fmt.Fprint(e.io.Out, entry)
			return err
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "add an Include of banger's config to ~/.ssh/config (above its first Host or Match block; a backup is kept)")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "remove banger's Include from ~/.ssh/config")
	return cmd
}

func editUserSSHConfig(e *env, l paths.Layout, install bool) error {
	user, err := paths.UserSSHConfig()
	if err != nil {
		return err
	}
	backup := paths.UserSSHConfigBackup(user)
	edit := func(b []byte) ([]byte, bool) { return sshconfig.RemoveInclude(b, l.SSHConfig()) }
	if install {
		edit = func(b []byte) ([]byte, bool) { return sshconfig.AddInclude(b, l.SSHConfig()) }
	}
	_, statErr := os.Stat(user)
	changed, err := sshconfig.EditUserConfig(user, backup, edit)
	if err != nil {
		return err
	}
	saved := ""
	if statErr == nil {
		saved = " (previous version: " + backup + ")"
	}
	switch {
	case install && changed:
		fmt.Fprintf(e.io.Out, "%s now Includes %s%s\n", user, l.SSHConfig(), saved)
		fmt.Fprintln(e.io.Out, "try: ssh <vm-name>")
	case install:
		fmt.Fprintf(e.io.Out, "%s already Includes %s\n", user, l.SSHConfig())
	case changed:
		fmt.Fprintf(e.io.Out, "removed the Include of %s from %s%s\n", l.SSHConfig(), user, saved)
	default:
		fmt.Fprintf(e.io.Out, "%s does not Include %s; nothing to remove\n", user, l.SSHConfig())
	}
	return nil
}
