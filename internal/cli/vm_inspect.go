package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/humanize"
	"banger/internal/termtext"
)

func newVMListCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List VMs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			vms, err := c.ListVMs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if vms == nil {
					vms = []api.VM{}
				}
				return printJSON(e.io.Out, vms)
			}
			if len(vms) == 0 {
				fmt.Fprintln(e.io.Out, "no VMs yet: create one with `banger vm create --name NAME`")
				return nil
			}
			t := newTable(e.io.Out)
			fmt.Fprintln(t, "NAME\tID\tSTATE\tIP\tVCPU\tMEMORY\tDISK\tNAT\tIMAGE\tUPTIME")
			for _, v := range vms {
				up := "-"
				if v.StartedAt != nil {
					up = humanize.Duration(time.Since(*v.StartedAt))
				}
				nat := "-"
				if v.NAT {
					nat = "yes"
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.ID[:8], v.State, v.IP, v.VCPUs, humanize.MiB(v.MemoryMiB), humanize.Bytes(v.DiskSize), nat, v.Image, up)
			}
			return t.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newVMShowCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show REF...",
		Short:   "Show VM details",
		Example: "  banger vm show calm-otter",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			var out []api.VM
			for _, ref := range refs {
				vm, err := c.GetVM(cmd.Context(), ref)
				if err != nil {
					return err
				}
				out = append(out, vm)
			}
			if asJSON {
				if len(out) == 1 {
					return printJSON(e.io.Out, out[0])
				}
				return printJSON(e.io.Out, out)
			}
			for i, v := range out {
				if i > 0 {
					fmt.Fprintln(e.io.Out)
				}
				t := newTable(e.io.Out)
				fmt.Fprintf(t, "name:\t%s\nid:\t%s\nstate:\t%s\nimage:\t%s\n", v.Name, v.ID, v.State, v.Image)
				fmt.Fprintf(t, "address:\t%s (%s)\nmac:\t%s\n", v.IP, v.DNSName, v.MAC)
				if v.TAP != "" {
					fmt.Fprintf(t, "tap:\t%s\n", v.TAP)
				}
				fmt.Fprintf(t, "vcpus:\t%d\nmemory:\t%s\nwork disk:\t%s\nnat:\t%v\n", v.VCPUs, humanize.MiB(v.MemoryMiB), humanize.Bytes(v.DiskSize), v.NAT)
				fmt.Fprintf(t, "vmm:\t%s %s\n", v.VMM, v.Accel)
				if v.PID != 0 {
					fmt.Fprintf(t, "pid:\t%d\n", v.PID)
				}
				fmt.Fprintf(t, "created:\t%s\n", v.CreatedAt.Local().Format(time.RFC3339))
				if v.StartedAt != nil {
					fmt.Fprintf(t, "started:\t%s\n", v.StartedAt.Local().Format(time.RFC3339))
				}
				fmt.Fprintf(t, "dir:\t%s\n", v.Dir)
				for _, f := range v.Forwards {
					fmt.Fprintf(t, "forward:\t%s\n", forwardLine(f))
				}
				if v.LastError != "" {
					fmt.Fprintf(t, "last error:\t%s\n", strings.ReplaceAll(termtext.EscapeLines(v.LastError), "\t", " "))
				}
				t.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newVMStatsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "stats REF...",
		Short:   "Show VMM CPU and memory, disk usage and guest figures",
		Example: "  banger vm stats calm-otter",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			var all []api.VMStats
			for _, ref := range refs {
				st, err := c.VMStats(cmd.Context(), ref)
				if err != nil {
					return err
				}
				all = append(all, st)
			}
			if asJSON {
				if len(all) == 1 {
					return printJSON(e.io.Out, all[0])
				}
				return printJSON(e.io.Out, all)
			}
			for i, st := range all {
				if i > 0 {
					fmt.Fprintln(e.io.Out)
				}
				t := newTable(e.io.Out)
				fmt.Fprintf(t, "vm:\t%s (%s)\n", st.VM, st.State)
				if st.State == api.StateRunning {
					fmt.Fprintf(t, "uptime:\t%s\n", humanize.Duration(time.Duration(st.UptimeSeconds*float64(time.Second))))
					fmt.Fprintf(t, "vmm cpu:\t%.1f%% (%.1fs)\n", st.VMMCPUPercent, st.VMMCPUSeconds)
					fmt.Fprintf(t, "vmm rss:\t%s\n", humanize.Bytes(st.VMMRSSBytes))
				}
				fmt.Fprintf(t, "overlay:\t%s allocated of %s\n", humanize.Bytes(st.Overlay.UsedBytes), humanize.Bytes(st.Overlay.SizeBytes))
				fmt.Fprintf(t, "work disk:\t%s allocated of %s\n", humanize.Bytes(st.WorkDisk.UsedBytes), humanize.Bytes(st.WorkDisk.SizeBytes))
				if g := st.Guest; g != nil {
					fmt.Fprintf(t, "guest memory:\t%s available of %s\n", humanize.Bytes(g.MemAvailableBytes), humanize.Bytes(g.MemTotalBytes))
					fmt.Fprintf(t, "guest load:\t%.2f %.2f %.2f\n", g.Load1, g.Load5, g.Load15)
					for _, fs := range g.Disks {
						fmt.Fprintf(t, "guest %s:\t%s used of %s\n", termtext.Escape(fs.Mount), humanize.Bytes(fs.UsedBytes), humanize.Bytes(fs.TotalBytes))
					}
				} else if st.GuestError != "" && st.State == api.StateRunning {
					fmt.Fprintf(t, "guest:\tno figures (%s)\n", termtext.Escape(st.GuestError))
				}
				t.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
