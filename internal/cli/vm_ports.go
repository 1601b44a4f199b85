package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/termtext"
)

func newVMPortsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ports REF...",
		Short:   "List what running VMs listen on, with clickable http:// URLs",
		Example: "  banger vm ports calm-otter buildbox",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			type result struct {
				api.PortsResponse
				Ref   string `json:"ref"`
				Error string `json:"error,omitempty"`
			}
			results := make([]result, len(refs))
			failed := 0
			for i, ref := range refs {
				pr, err := c.VMPorts(cmd.Context(), ref)
				results[i] = result{PortsResponse: pr, Ref: ref}
				if err != nil {
					failed++
					msg, hint := describe(err)
					if hint != "" {
						msg += " (" + hint + ")"
					}
					results[i].Error = msg
				}
				if results[i].Ports == nil {
					results[i].Ports = []api.Port{}
				}
			}
			if asJSON {
				if err := printJSON(e.io.Out, results); err != nil {
					return err
				}
			} else {
				t := newTable(e.io.Out)
				fmt.Fprintln(t, "ENDPOINT\tPROTO\tPROCESS\tURL")
				for _, r := range results {
					if r.Error != "" {
						fmt.Fprintf(t, "%s\terror\t%s\t\n", termtext.Escape(r.Ref), termtext.Escape(r.Error))
						continue
					}
					for _, p := range r.Ports {
						proc := p.Process
						if p.Command != "" {
							proc = p.Command
						}
						if p.PID != 0 {
							proc = fmt.Sprintf("%s (pid %d)", proc, p.PID)
						}
						// Process names and command lines are the guest's.
						fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", p.Endpoint, termtext.Escape(p.Proto), termtext.Escape(proc), p.URL)
					}
				}
				t.Flush()
			}
			if failed > 0 {
				return exitError{code: ExitFailure}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
