package cli

import (
	"context"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/disk"
)

func newVMSetCmd(e *env) *cobra.Command {
	var memory, vcpu, diskSize string
	var nat, noNAT, asJSON bool
	cmd := &cobra.Command{
		Use:   "set REF...",
		Short: "Change VM settings (memory, vcpu, disk size on stopped VMs; NAT live)",
		Example: `  banger vm set calm-otter --memory 2048 --vcpu 4 --disk-size 32G
  banger vm set --nat web-1 web-2 web-3`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) error {
			var req api.SetVMRequest
			f := cmd.Flags()
			if f.Changed("memory") {
				m, err := parseMemory(memory)
				if err != nil {
					return usageError{err}
				}
				req.MemoryMiB = &m
			}
			if f.Changed("vcpu") {
				n, err := parseVCPU(vcpu)
				if err != nil {
					return usageError{err}
				}
				req.VCPUs = &n
			}
			if f.Changed("disk-size") {
				s, err := disk.ParseSize(diskSize)
				if err != nil {
					return usagef("--disk-size: %v", err)
				}
				req.DiskSize = &s
			}
			if nat && noNAT {
				return usagef("--nat and --no-nat contradict each other")
			}
			if nat || noNAT {
				v := nat
				req.NAT = &v
			}
			if req == (api.SetVMRequest{}) {
				return usagef("nothing to change: give --memory, --vcpu, --disk-size, --nat or --no-nat")
			}
			return forEachRef(cmd.Context(), e, refs, asJSON, func(ctx context.Context, c *client.Client, ref string) (*api.VM, error) {
				return vmOrNil(c.SetVM(ctx, ref, req))
			}, func(*api.VM) string { return "updated" })
		},
	}
	f := cmd.Flags()
	f.StringVar(&memory, "memory", "", "memory in MiB (or with a suffix, e.g. 2G)")
	f.StringVar(&vcpu, "vcpu", "", "number of vCPUs")
	f.StringVar(&diskSize, "disk-size", "", "grow the work disk to this size, e.g. 32G (never shrinks)")
	f.BoolVar(&nat, "nat", false, "enable NAT (applies live to running VMs)")
	f.BoolVar(&noNAT, "no-nat", false, "disable NAT (applies live to running VMs)")
	f.BoolVar(&asJSON, "json", false, "print one JSON result per ref")
	return cmd
}
