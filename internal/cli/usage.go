package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// markUsage walks the command tree: argument-count errors of every command
// become usage errors (exit 2), and every command that only groups others
// refuses an unknown or missing subcommand with a usage error naming it.
// Cobra alone prints a group's help and exits 0 for `banger vm frobnicate`,
// so a script could not tell a typo from success.
func markUsage(c *cobra.Command) {
	if !c.HasParent() {
		// A group runs only to refuse what it was given: its usage shows
		// "banger vm [command]", not a runnable "banger vm [flags]".
		c.SetUsageTemplate(strings.Replace(c.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	}
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = runGroup
	}
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub)
	}
}

// runGroup is what a group command runs when no subcommand matched.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
		return usagef("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "))
	}
	return unknownCommand(cmd, args[0])
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	} else {
		msg += " (known: " + strings.Join(subcommandNames(cmd), ", ") + ")"
	}
	return usageError{fmt.Errorf("%s", msg)}
}

func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// newHelpCmd is `banger help [command...]`; unlike cobra's own it refuses
// a topic that is not a command.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target := root
			for _, name := range args {
				if target = findSub(target, name); target == nil {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
			}
			var out []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := root
			for _, name := range args {
				next := findSub(target, name)
				if next == nil {
					return unknownCommand(target, name)
				}
				target = next
			}
			return target.Help()
		},
	}
}

func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name || sub.HasAlias(name) {
			return sub
		}
	}
	return nil
}
