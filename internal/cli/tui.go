package cli

import (
	"os"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/paths"
	"banger/internal/tui"
)

func newTUICmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "tui",
		Short: "Full-screen terminal UI: live VM list, details, ports, lifecycle keys and ssh",
		Long: `Full-screen terminal UI over bangerd. The VM list follows bangerd's events
and is refetched every 3s. Keys: ↑/↓ (j/k) move, enter details, p ports,
s start, x stop, r restart, d delete, n toggle NAT, c ssh, ? help, q quit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !isTerminal(e.io.Out) {
				return usagef("banger tui needs a terminal; use `banger vm list` in scripts")
			}
			l, err := e.Layout()
			if err != nil {
				return err
			}
			// A bad config or socket path will not get better by retrying:
			// report it here, like every other command.
			if _, err := e.Config(); err != nil {
				return err
			}
			if err := paths.CheckSocketPath(l.Socket()); err != nil {
				return err
			}
			// A daemon that fails to start is shown inside the TUI, which
			// keeps retrying the socket.
			var backend tui.Backend
			c, startErr := e.Client(cmd.Context())
			if startErr != nil {
				backend = client.New(l.Socket())
			} else {
				backend = c
			}
			return tui.Run(cmd.Context(), tui.Options{
				Backend:  backend,
				StartErr: startErr,
				Describe: describe,
				SSHArgv:  func(vm api.VM) []string { return sshArgv(l, vm, nil) },
				In:       e.io.In,
				Out:      e.io.Out,
			})
		},
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
