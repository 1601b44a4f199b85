package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/termtext"
)

func newEventsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "events [--json]",
		Short: "Print bangerd's VM events (created, started, stopped, deleted, failed, forward) as they happen",
		Long: `Print the daemon's event stream until interrupted: one line per event, or
with --json one JSON object per line ({"time","type","vm","message"}), for
scripts and status bars. Only events from now on are printed.`,
		Example: `  banger events
  banger events --json | jq -r 'select(.type=="stopped") | .vm'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			var werr error
			err = c.Events(cmd.Context(), func(ev api.Event) {
				if werr != nil {
					return
				}
				werr = printEvent(e, ev, asJSON)
			})
			if cmd.Context().Err() != nil {
				return nil // interrupted: the normal way to end
			}
			if werr != nil {
				return werr
			}
			if err != nil {
				return fmt.Errorf("read bangerd events: %w", err)
			}
			return errors.New("bangerd closed the event stream (it stopped)")
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func printEvent(e *env, ev api.Event, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.io.Out, "%s\n", b)
		return err
	}
	line := ev.Time.Local().Format(time.RFC3339) + " " + ev.Type
	if ev.VM != "" {
		line += " " + ev.VM
	}
	if ev.Message != "" {
		line += ": " + ev.Message
	}
	_, err := fmt.Fprintln(e.io.Out, termtext.Escape(line))
	return err
}
