package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
)

// newVMSuspendCmds are vm suspend, vm resume and vm clone.
func newVMSuspendCmds(e *env) []*cobra.Command {
	return []*cobra.Command{newVMSuspendCmd(e), newVMResumeCmd(e), newVMCloneCmd(e)}
}

func newVMSuspendCmd(e *env) *cobra.Command {
	return newRefCmd(e, "suspend", "Save running VMs' memory to disk and end their VMMs (resume brings every process back)",
		"  banger vm suspend calm-otter",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.SuspendVM(ctx, ref, progressPrinter(e, true)))
		}, stateLine, nil)
}

func newVMResumeCmd(e *env) *cobra.Command {
	return newRefCmd(e, "resume", "Bring suspended VMs back where they were (returns when SSH answers)",
		"  banger vm resume calm-otter",
		func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
			return vmOrNil(c.ResumeVM(ctx, ref, progressPrinter(e, true)))
		}, resumeLine, nil)
}

// resumeLine says when a resume had to boot the VM from its disks.
func resumeLine(vm *api.VM) string {
	if vm != nil && vm.LastError != "" {
		return vm.State + " (" + vm.LastError + ")"
	}
	return stateLine(vm)
}

func newVMCloneCmd(e *env) *cobra.Command {
	var name string
	var asJSON bool
	cmd := &cobra.Command{
		Use: "clone SRC --name DST", Short: "Copy a stopped VM's disks into a new VM with its own identity",
		Example: "  banger vm clone calm-otter --name calm-otter-2 && banger vm start calm-otter-2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usagef("vm clone needs --name NAME for the new vm")
			}
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			vm, err := c.CloneVM(cmd.Context(), args[0], name, progressPrinter(e, false))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, vm)
			}
			fmt.Fprintf(e.io.Out, "%s (%s) cloned from %s: %s, stopped; start it with `banger vm start %s`\n", vm.Name, vm.ID, args[0], vm.IP, vm.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new vm (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new vm as JSON")
	return cmd
}
