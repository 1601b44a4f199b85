package cli

import (
	"context"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
)

// newRefCmd builds a multi-ref lifecycle command.
func newRefCmd(e *env, use, short, example string, op func(context.Context, *client.Client, string) (*api.VM, error), done func(*api.VM) string, extra func(*cobra.Command)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: use + " REF...", Short: short, Example: example, Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) error {
			return forEachRef(cmd.Context(), e, refs, asJSON, op, done)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON result per ref")
	if extra != nil {
		extra(cmd)
	}
	return cmd
}

// vmOrNil is the result line's VM: none when the operation failed.
func vmOrNil(vm api.VM, err error) (*api.VM, error) {
	if err != nil {
		return nil, err
	}
	return &vm, nil
}

func newVMStartCmd(e *env) *cobra.Command {
	return newRefCmd(e, "start", "Start stopped VMs (returns when SSH answers)", "  banger vm start calm-otter",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.StartVM(ctx, ref, progressPrinter(e, true)))
		}, stateLine, nil)
}

func newVMRestartCmd(e *env) *cobra.Command {
	return newRefCmd(e, "restart", "Stop and start VMs", "  banger vm restart calm-otter",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.RestartVM(ctx, ref, progressPrinter(e, true)))
		}, stateLine, nil)
}

func newVMStopCmd(e *env) *cobra.Command {
	var timeout int
	return newRefCmd(e, "stop", "Shut VMs down cleanly (escalating to SIGTERM/SIGKILL after --timeout)", "  banger vm stop calm-otter buildbox api-1",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.StopVM(ctx, ref, api.StopRequest{TimeoutSeconds: timeout}, progressPrinter(e, true)))
		}, stateLine, func(cmd *cobra.Command) {
			cmd.Flags().IntVar(&timeout, "timeout", 60, "seconds to wait for a clean guest shutdown")
		})
}

func newVMKillCmd(e *env) *cobra.Command {
	var signal string
	return newRefCmd(e, "kill", "Send a signal to VMs' VMM processes", "  banger vm kill --signal KILL aa12bb34 cc56dd78",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.KillVM(ctx, ref, api.KillRequest{Signal: signal}))
		}, func(vm *api.VM) string { return "signalled (" + vm.State + ")" }, func(cmd *cobra.Command) {
			cmd.Flags().StringVarP(&signal, "signal", "s", "TERM", "signal name or number (TERM, KILL, INT, HUP, ...)")
		})
}

func newVMDeleteCmd(e *env) *cobra.Command {
	var force bool
	return newRefCmd(e, "delete", "Delete VMs and their disks (running VMs need --force)", "  banger vm delete calm-otter",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.DeleteVM(ctx, ref, force))
		}, func(*api.VM) string { return "deleted" }, func(cmd *cobra.Command) {
			cmd.Flags().BoolVarP(&force, "force", "f", false, "stop a running VM first")
		})
}
