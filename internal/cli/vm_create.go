package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/humanize"
)

type createOptions struct {
	name, image, memory, vcpu, diskSize string
	nat, noWait, asJSON                 bool
}

func newVMCreateCmd(e *env) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create and boot a VM (returns when SSH answers unless --no-wait)",
		Example: `  banger vm create --name calm-otter --disk-size 16G
  banger vm create --memory 4096 --vcpu 4 --nat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := api.CreateVMRequest{Name: o.name, Image: o.image, NAT: o.nat, NoWait: o.noWait}
			var err error
			if cmd.Flags().Changed("memory") {
				if req.MemoryMiB, err = parseMemory(o.memory); err != nil {
					return usageError{err}
				}
			}
			if cmd.Flags().Changed("vcpu") {
				if req.VCPUs, err = parseVCPU(o.vcpu); err != nil {
					return usageError{err}
				}
				if req.VCPUs < 1 {
					return usagef("vcpu %d: at least 1 is needed", req.VCPUs)
				}
			}
			if cmd.Flags().Changed("disk-size") {
				if req.DiskSize, err = disk.ParseSize(o.diskSize); err != nil {
					return usagef("--disk-size: %v", err)
				}
			}
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			start := time.Now()
			vm, err := c.CreateVM(cmd.Context(), req, progressPrinter(e, false))
			if err != nil {
				return err
			}
			if o.asJSON {
				return printJSON(e.io.Out, vm)
			}
			fmt.Fprintf(e.io.Out, "%s is %s at %s (%s) after %.1fs\n", vm.Name, vm.State, vm.IP, vm.DNSName, time.Since(start).Seconds())
			fmt.Fprintf(e.io.Out, "ssh: banger vm ssh %s\n", vm.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "VM name (a DNS label; generated as adjective-animal when omitted)")
	f.StringVar(&o.image, "image", "", "image name or id (default: the bundle's default image)")
	// The defaults shown are the daemon's own (api.Default*): a flag left
	// unset is not sent, and bangerd fills it in.
	f.StringVar(&o.memory, "memory", humanize.MiB(api.DefaultMemoryMiB), "memory in MiB (or with a suffix, e.g. 2G)")
	f.StringVar(&o.vcpu, "vcpu", strconv.Itoa(api.DefaultVCPUs), "number of vCPUs")
	f.StringVar(&o.diskSize, "disk-size", humanize.Bytes(api.DefaultDiskSize), "size of the persistent /root work disk, e.g. 16G")
	f.BoolVar(&o.nat, "nat", false, "give the VM outbound network access through NAT")
	f.BoolVar(&o.noWait, "no-wait", false, "return once the VMM runs, without waiting for SSH")
	f.BoolVar(&o.asJSON, "json", false, "print the VM as JSON")
	return cmd
}
