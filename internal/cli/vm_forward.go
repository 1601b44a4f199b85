package cli

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

// parseForwardSpec reads [HOSTADDR:]HOSTPORT[:GUESTPORT].
func parseForwardSpec(s string) (api.Forward, error) {
	bad := func(why string) (api.Forward, error) {
		return api.Forward{}, fmt.Errorf("forward %q: %s; write [HOSTADDR:]HOSTPORT[:GUESTPORT], e.g. 8080, 8080:3000 or 127.0.0.1:8080:3000", s, why)
	}
	port := func(p string) (int, bool) {
		n, err := strconv.Atoi(p)
		return n, err == nil && n >= 1 && n <= 65535
	}
	parts := strings.Split(s, ":")
	var f api.Forward
	var ok bool
	switch len(parts) {
	case 1:
		if f.HostPort, ok = port(parts[0]); !ok {
			return bad("the port must be 1-65535")
		}
		f.GuestPort = f.HostPort
	case 2:
		if _, err := netip.ParseAddr(parts[0]); err == nil {
			f.HostAddr = parts[0]
			if f.HostPort, ok = port(parts[1]); !ok {
				return bad("the port must be 1-65535")
			}
			f.GuestPort = f.HostPort
			break
		}
		if f.HostPort, ok = port(parts[0]); !ok {
			return bad("the host port must be 1-65535")
		}
		if f.GuestPort, ok = port(parts[1]); !ok {
			return bad("the guest port must be 1-65535")
		}
	case 3:
		if _, err := netip.ParseAddr(parts[0]); err != nil {
			return bad(fmt.Sprintf("%q is not an IPv4 address", parts[0]))
		}
		f.HostAddr = parts[0]
		if f.HostPort, ok = port(parts[1]); !ok {
			return bad("the host port must be 1-65535")
		}
		if f.GuestPort, ok = port(parts[2]); !ok {
			return bad("the guest port must be 1-65535")
		}
	default:
		return bad("too many colons")
	}
	return f, nil
}

func newVMForwardCmd(e *env) *cobra.Command {
	var remove, anyAddr, asJSON, auto bool
	cmd := &cobra.Command{
		Use:   "forward REF [[HOSTADDR:]HOSTPORT[:GUESTPORT]]",
		Short: "Forward a host port (127.0.0.1 by default) to a guest port, or list forwards",
		Long: `Make a guest port reachable on the host: connections to HOSTADDR:HOSTPORT
(127.0.0.1 unless given) are relayed by bangerd to GUESTPORT (HOSTPORT unless
given) in the VM. Forwards are recorded with the VM: they listen while it runs,
come back when it or bangerd starts again, and go away with --remove or when
the VM is deleted. A loopback port is open to every local user of this host;
another HOSTADDR needs --any-address, because it opens the port to the network.
With --auto, every TCP port the guest listens on (from its agent; not 22,
not below 1024) is forwarded to the same port on 127.0.0.1 while the VM runs;
a host port already taken is reported in the list, not fatal. --auto --remove
turns that off. Without a port, list the VM's forwards.`,
		Example: `  banger vm forward calm-otter 8080          # http://localhost:8080 -> guest :8080
  banger vm forward calm-otter 3000:5173     # host 3000 -> guest 5173
  banger vm forward calm-otter               # list
  banger vm forward calm-otter --remove 8080
  banger vm forward calm-otter --auto        # mirror every guest listener`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if auto {
				if len(args) > 1 {
					return usagef("--auto takes no port, got %q", args[1])
				}
				c, err := e.Client(ctx)
				if err != nil {
					return err
				}
				list, err := c.SetAutoForward(ctx, args[0], !remove)
				if err != nil {
					return err
				}
				return printForwards(e, list, asJSON)
			}
			if len(args) == 1 {
				if remove {
					return usagef("--remove needs the forward's [HOSTADDR:]HOSTPORT")
				}
				c, err := e.Client(ctx)
				if err != nil {
					return err
				}
				list, err := c.Forwards(ctx, args[0])
				if err != nil {
					return err
				}
				return printForwards(e, list, asJSON)
			}
			f, err := parseForwardSpec(args[1])
			if err != nil {
				return usageError{err}
			}
			c, err := e.Client(ctx)
			if err != nil {
				return err
			}
			if remove {
				if _, err := c.RemoveForward(ctx, args[0], f.HostAddr, f.HostPort); err != nil {
					return err
				}
				addr := f.HostAddr
				if addr == "" {
					addr = "127.0.0.1"
				}
				fmt.Fprintf(e.io.Out, "removed the forward on %s\n", net.JoinHostPort(addr, strconv.Itoa(f.HostPort)))
				return nil
			}
			out, err := c.AddForward(ctx, args[0], api.AddForwardRequest{Forward: f, AnyAddress: anyAddr})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, out)
			}
			state := "listening"
			if !out.Active {
				state = "recorded; it listens when the vm starts"
			}
			fmt.Fprintf(e.io.Out, "%s -> guest port %d (%s)\n", net.JoinHostPort(out.HostAddr, strconv.Itoa(out.HostPort)), out.GuestPort, state)
			return nil
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the forward on [HOSTADDR:]HOSTPORT")
	cmd.Flags().BoolVar(&anyAddr, "any-address", false, "allow a HOSTADDR that is not a loopback address (opens the port to the network)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&auto, "auto", false, "forward every guest listener (port 1024 and up) to the same port on 127.0.0.1 while the vm runs")
	return cmd
}

func printForwards(e *env, list api.ForwardList, asJSON bool) error {
	if asJSON {
		return printJSON(e.io.Out, list)
	}
	if list.Auto {
		fmt.Fprintln(e.io.Out, "auto: guest listeners on ports 1024 and up are forwarded to 127.0.0.1 while the vm runs")
	}
	if len(list.Forwards) == 0 {
		if !list.Auto {
			fmt.Fprintln(e.io.Out, "no forwards: add one with `banger vm forward REF HOSTPORT[:GUESTPORT]`")
		}
		return nil
	}
	t := newTable(e.io.Out)
	fmt.Fprintln(t, "HOST\tGUEST PORT\tSTATE")
	for _, f := range list.Forwards {
		state := "listening"
		switch {
		case f.Error != "":
			state = "not listening: " + f.Error
		case !f.Active:
			state = "vm not running"
		}
		if f.Auto {
			state += " (auto)"
		}
		fmt.Fprintf(t, "%s\t%d\t%s\n", net.JoinHostPort(f.HostAddr, strconv.Itoa(f.HostPort)), f.GuestPort, state)
	}
	return t.Flush()
}

// forwardLine is one forward for vm show.
func forwardLine(f api.Forward) string {
	s := fmt.Sprintf("%s -> guest port %d", net.JoinHostPort(f.HostAddr, strconv.Itoa(f.HostPort)), f.GuestPort)
	switch {
	case f.Error != "":
		s += " (not listening: " + f.Error + ")"
	case !f.Active:
		s += " (vm not running)"
	}
	if f.Auto {
		s += " (auto)"
	}
	return s
}
