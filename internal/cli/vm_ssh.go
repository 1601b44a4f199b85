package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/knownhosts"
	"banger/internal/paths"
)

func newVMSSHCmd(e *env) *cobra.Command {
	var printCmd bool
	cmd := &cobra.Command{
		Use:   "ssh REF [-- COMMAND...]",
		Short: "SSH into a running VM as root (exit code is the remote command's)",
		Example: `  banger vm ssh calm-otter
  banger vm ssh calm-otter -- uname -a`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, remote := args[0], args[1:]
			if dash := cmd.ArgsLenAtDash(); dash > 1 {
				return usagef("vm ssh takes one VM ref before --, got %d", dash)
			}
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			vm, err := c.GetVM(cmd.Context(), ref)
			if err != nil {
				return err
			}
			if vm.State != api.StateRunning {
				return notRunning(vm)
			}
			l, err := e.Layout()
			if err != nil {
				return err
			}
			argv := sshArgv(l, vm, remote)
			if printCmd {
				fmt.Fprintln(e.io.Out, shellJoin(argv))
				return nil
			}
			sshCmd := exec.CommandContext(context.WithoutCancel(cmd.Context()), argv[0], argv[1:]...)
			sshCmd.Stdin, sshCmd.Stdout, sshCmd.Stderr = e.io.In, e.io.Out, e.io.ErrOut
			err = sshCmd.Run()
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				return exitError{code: exitErr.ExitCode()}
			}
			if err != nil {
				return fmt.Errorf("run ssh: %w", err)
			}
			if len(remote) == 0 {
				remindStillRunning(cmd.Context(), e, vm)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&printCmd, "print", false, "print the ssh command instead of running it")
	return cmd
}

// notRunning is why vm ssh cannot reach vm. After a start that failed
// (or a VMM that died), "start it" is the wrong advice on its own: the
// user has just tried that, so the recorded cause comes first.
func notRunning(vm api.VM) error {
	if vm.LastError == "" {
		return hintError{fmt.Errorf("vm %s is %s", vm.Name, vm.State), "start it with `banger vm start " + vm.Name + "`"}
	}
	cause, _, _ := strings.Cut(vm.LastError, "\n")
	return hintError{fmt.Errorf("vm %s is %s: %s", vm.Name, vm.State, cause),
		"`banger vm show " + vm.Name + "` has the details; fix the cause, then `banger vm start " + vm.Name + "`"}
}

// sshArgv is the system ssh command for vm with the installation key and
// banger's own known_hosts file (host keys are recorded per VM id).
func sshArgv(l paths.Layout, vm api.VM, remote []string) []string {
	argv := []string{"ssh",
		"-i", l.SSHKey(),
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + l.KnownHosts(),
		"-o", "StrictHostKeyChecking=yes",
		"-o", "HostKeyAlias=" + knownhosts.HostKeyAlias(vm.ID),
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
		"root@" + vm.IP,
	}
	switch {
	case len(remote) == 1:
		// One argument is a shell command line, as with plain ssh:
		// `banger vm ssh web -- 'ls | wc -l'`.
		argv = append(argv, "--", remote[0])
	case len(remote) > 1:
		// Several arguments are an argv: quote each so the remote shell
		// gets them back unchanged (`-- sh -c 'exit 7'`).
		argv = append(argv, "--", shellJoin(remote))
	}
	return argv
}

// remindStillRunning prints a one-line reminder after an interactive
// session when the agent says the guest is still up.
func remindStillRunning(ctx context.Context, e *env, vm api.VM) {
	c, err := e.Client(ctx)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	if h, err := c.VMHealth(ctx, vm.ID); err != nil || !h.Up {
		return
	}
	fmt.Fprintf(e.io.ErrOut, "banger: %s is still running; stop it with `banger vm stop %s`\n", vm.Name, vm.Name)
}

func shellJoin(argv []string) string {
	out := ""
	for i, a := range argv {
		if i > 0 {
			out += " "
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\*?[]{}()<>|&;#~") {
			out += "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out += a
		}
	}
	return out
}
