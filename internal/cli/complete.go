package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
)

// completionTimeout bounds one question to bangerd from a TAB press.
const completionTimeout = 2 * time.Second

// completeVMs completes VM names from a daemon that already runs: a TAB
// never starts bangerd (it would build networking, adopt VMs and linger),
// so with no daemon there is simply nothing to offer.
func completeVMs(e *env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var vms []api.VM
		if !completionQuery(cmd.Context(), e, func(ctx context.Context, c *client.Client) (err error) {
			vms, err = c.ListVMs(ctx)
			return err
		}) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, v := range vms {
			if !contains(args, v.Name) {
				out = append(out, v.Name+"\t"+v.State)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeImages completes image names from a daemon that already runs.
func completeImages(e *env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var ims []api.Image
		if !completionQuery(cmd.Context(), e, func(ctx context.Context, c *client.Client) (err error) {
			ims, err = c.ListImages(ctx)
			return err
		}) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, im := range ims {
			if !contains(args, im.Name) {
				out = append(out, im.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func completionQuery(ctx context.Context, e *env, query func(context.Context, *client.Client) error) bool {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	c, ok := e.ExistingClient(ctx)
	if !ok {
		return false
	}
	return query(ctx, c) == nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// addCompletions gives every command that takes refs a completion of
// them: the positional REF arguments of `vm` and `image` subcommands
// (only the first for a command that takes one ref, like `vm ssh REF --
// CMD`), and the --image flag. Commands that set their own completion
// keep it.
func addCompletions(e *env, root *cobra.Command) {
	var walk func(c *cobra.Command, group string)
	walk = func(c *cobra.Command, group string) {
		for _, sub := range c.Commands() {
			g := group
			if c == root {
				g = sub.Name()
			}
			if fn := refCompletion(e, g, sub.Use); fn != nil && sub.ValidArgsFunction == nil {
				sub.ValidArgsFunction = fn
			}
			if f := sub.Flags().Lookup("image"); f != nil {
				sub.RegisterFlagCompletionFunc("image", completeImages(e))
			}
			walk(sub, g)
		}
	}
	walk(root, "")
}

// refCompletion picks the completion for a command from its usage line.
func refCompletion(e *env, group, use string) cobra.CompletionFunc {
	fields := strings.Fields(use)
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "REF") {
		return nil
	}
	var fn cobra.CompletionFunc
	switch group {
	case "vm":
		fn = completeVMs(e)
	case "image":
		fn = completeImages(e)
	default:
		return nil
	}
	if fields[1] == "REF..." {
		return fn
	}
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}
