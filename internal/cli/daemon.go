package cli

import (
	"banger/internal/humanize"
	"banger/internal/vmm"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newDaemonCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "daemon", Short: "Inspect and control bangerd", Args: cobra.NoArgs}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's PID, socket, log, DNS address, version and uptime (starts it if needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, st)
			}
			t := newTable(e.io.Out)
			fmt.Fprintf(t, "pid:\t%d\n", st.PID)
			fmt.Fprintf(t, "version:\t%s\n", st.Version)
			fmt.Fprintf(t, "uptime:\t%s\n", humanize.Duration(time.Duration(st.UptimeSeconds*float64(time.Second))))
			fmt.Fprintf(t, "socket:\t%s\n", st.Socket)
			fmt.Fprintf(t, "log:\t%s\n", st.LogPath)
			dns := st.DNSListen
			if st.DNSError != "" {
				dns += " (not serving: " + st.DNSError + ")"
			}
			fmt.Fprintf(t, "dns:\t%s\n", dns)
			fmt.Fprintf(t, "state:\t%s\n", st.StateDir)
			fmt.Fprintf(t, "runtime bundle:\t%s\n", st.RuntimeBundle)
			if st.VMM != "" {
				fmt.Fprintf(t, "vmm:\t%s (%s)\n", st.VMM, st.Accel)
			}
			fmt.Fprintf(t, "vms:\t%d (%d running)\n", st.VMs, st.Running)
			fmt.Fprintf(t, "service:\t%s\n", serviceState(cmd.Context()))
			if err := t.Flush(); err != nil {
				return err
			}
			if st.DNSError != "" {
				fmt.Fprintf(e.io.ErrOut, "warning: bangerd is not serving .vm names on %s: %s\n  another program (or another banger installation) holds that address; set dns_listen to a free host:port and restart bangerd\n", st.DNSListen, st.DNSError)
			}
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	socket := &cobra.Command{
		Use:   "socket",
		Short: "Print the daemon's API socket path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := e.Layout()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, map[string]string{"socket": l.Socket()})
			}
			fmt.Fprintln(e.io.Out, l.Socket())
			return nil
		},
	}
	socket.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop bangerd (VMs keep running and are re-adopted by the next daemon)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return stopDaemon(cmd.Context(), e)
		},
	}
	cmd.AddCommand(status, socket, stop, newDaemonEnableCmd(e), newDaemonDisableCmd(e))
	return cmd
}

func stopDaemon(ctx context.Context, e *env) error {
	c, ok := e.ExistingClient(ctx)
	if !ok {
		fmt.Fprintln(e.io.Out, "bangerd is not running")
		return nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if err := c.Shutdown(ctx); err != nil {
		return err
	}
	// Wait for the process to go away so a following command starts fresh.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if !(vmm.Process{PID: st.PID}).Alive() {
			fmt.Fprintf(e.io.Out, "bangerd stopped (pid %d)\n", st.PID)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("bangerd (pid %d) did not exit within 15s", st.PID)
}
