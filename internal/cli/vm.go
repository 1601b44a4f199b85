package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/disk"
	"banger/internal/termtext"
)

func newVMCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "vm", Short: "Create, inspect and control VMs", Args: cobra.NoArgs}
	cmd.AddCommand(
		newVMCreateCmd(e), newVMListCmd(e), newVMShowCmd(e), newVMStatsCmd(e), newVMSSHCmd(e),
		newVMPortsCmd(e), newVMStartCmd(e), newVMStopCmd(e), newVMRestartCmd(e), newVMKillCmd(e),
		newVMDeleteCmd(e), newVMSetCmd(e),
	)
	cmd.AddCommand(newVMSuspendCmds(e)...)
	cmd.AddCommand(newVMCpCmd(e), newVMLogsCmd(e), newVMForwardCmd(e))
	return cmd
}

// refResult is one line of a multi-ref command.
type refResult struct {
	Ref   string  `json:"ref"`
	OK    bool    `json:"ok"`
	VM    *api.VM `json:"vm,omitempty"`
	Error string  `json:"error,omitempty"`
	Hint  string  `json:"hint,omitempty"`
}

// forEachRef runs op for every ref concurrently and prints one result line
// per ref, in the order given. It fails (exit 1) if any ref failed.
func forEachRef(ctx context.Context, e *env, refs []string, asJSON bool, op func(context.Context, *client.Client, string) (*api.VM, error), done func(*api.VM) string) error {
	c, err := e.Client(ctx)
	if err != nil {
		return err
	}
	results := make([]refResult, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		go func(i int, ref string) {
			defer wg.Done()
			vm, err := op(ctx, c, ref)
			results[i] = refResult{Ref: ref, OK: err == nil, VM: vm}
			if err != nil {
				results[i].Error, results[i].Hint = describe(err)
			}
		}(i, ref)
	}
	wg.Wait()
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if asJSON {
		if err := printJSON(e.io.Out, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.OK {
				fmt.Fprintf(e.io.Out, "%s: %s\n", r.Ref, done(r.VM))
				continue
			}
			fmt.Fprintf(e.io.Out, "%s: error: %s\n", r.Ref, termtext.EscapeLines(r.Error))
			if r.Hint != "" {
				fmt.Fprintf(e.io.Out, "%s: hint: %s\n", r.Ref, termtext.EscapeLines(r.Hint))
			}
		}
	}
	if failed > 0 {
		if len(refs) == 1 && !asJSON {
			return exitError{code: ExitFailure}
		}
		return exitError{code: ExitFailure, err: fmt.Errorf("%d of %d failed", failed, len(refs))}
	}
	return nil
}

// progressPrinter prints streamed progress events to stderr.
func progressPrinter(e *env, prefix bool) func(api.Event) {
	var mu sync.Mutex
	return func(ev api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if prefix && ev.VM != "" {
			fmt.Fprintf(e.io.ErrOut, "%s: ", ev.VM)
		}
		fmt.Fprintf(e.io.ErrOut, "==> %s\n", termtext.EscapeLines(ev.Message))
	}
}

// parseMemory accepts MiB as a plain number, or a size with a suffix.
func parseMemory(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("memory %q must be a positive number of MiB, e.g. 2048 or 2G", s)
		}
		return n, nil
	}
	b, err := disk.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("memory %q: give MiB (2048) or a size with a suffix (2G): %v", s, err)
	}
	if b%(1<<20) != 0 {
		return 0, fmt.Errorf("memory %q is not a whole number of MiB", s)
	}
	return int(b >> 20), nil
}

func parseVCPU(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("vcpu %q must be a whole number", s)
	}
	return n, nil
}

func stateLine(vm *api.VM) string {
	if vm == nil {
		return "ok"
	}
	return vm.State
}
