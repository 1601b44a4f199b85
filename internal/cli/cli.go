// Package cli is the banger command line: a cobra command tree, one file per
// verb, that talks to bangerd through internal/client. Hints for the user
// and exit codes are decided here, at the edge, and nowhere else.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"banger/internal/client"
	"banger/internal/image/artifacts"
	"banger/internal/paths"
	"banger/internal/termtext"
	"banger/internal/version"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// usageError marks a mistake in how a command was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries a specific exit code (e.g. the remote command's).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// IO is where a command reads and writes.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Main runs the CLI with os.Args and returns the process exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
}

// Run executes one command line and maps its error to an exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stdio.ErrOut, "error:", termtext.EscapeLines(ee.err.Error()))
		}
		return ee.code
	}
	var ue usageError
	if strings.HasPrefix(err.Error(), "unknown command") {
		ue = usageError{err}
	}
	if ue.err != nil || errors.As(err, &ue) {
		fmt.Fprintln(stdio.ErrOut, "error:", termtext.EscapeLines(ue.err.Error()))
		fmt.Fprintln(stdio.ErrOut, "run with --help for usage")
		return ExitUsage
	}
	printError(stdio.ErrOut, err)
	return ExitFailure
}

// printError prints err with a hint of what to do next. Errors may quote
// the guest (agent errors, console lines), so control characters are
// escaped.
func printError(w io.Writer, err error) {
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintln(w, "error:", termtext.EscapeLines(apiErr.Body.Message))
		if apiErr.Body.Hint != "" {
			fmt.Fprintln(w, "hint:", termtext.EscapeLines(apiErr.Body.Hint))
		}
	case errors.As(err, new(*artifacts.UnavailableError)):
		fmt.Fprintln(w, "error:", err)
		fmt.Fprintln(w, "hint: on a host that reaches the npm registry, run `banger image fetch --mirror DIR` (with artifact_mirror pointing at the git bundles), copy DIR here and set artifact_mirror = \"DIR\" in ~/.config/banger/config.toml or BANGER_ARTIFACT_MIRROR=DIR")
	case errors.As(err, new(*artifacts.MismatchError)):
		fmt.Fprintln(w, "error:", err)
		fmt.Fprintln(w, "hint: nothing was cached; replace or remove the file it came from, or, if the pin is out of date, update it in internal/image/artifacts")
	case errors.As(err, new(*client.ForeignPeerError)), errors.As(err, new(*paths.UnsafeRuntimeDirError)):
		fmt.Fprintln(w, "error:", err)
		fmt.Fprintln(w, "hint: on a shared host another user can claim /tmp/banger-<uid>; log in through a session that sets XDG_RUNTIME_DIR (systemd-logind does) or export XDG_RUNTIME_DIR=/run/user/$(id -u)")
	case errors.Is(err, client.ErrUnreachable):
		fmt.Fprintln(w, "error:", termtext.EscapeLines(err.Error()))
		fmt.Fprintln(w, "hint: is bangerd running? `banger daemon status` starts it; its log is ~/.local/state/banger/bangerd.log")
	default:
		fmt.Fprintln(w, "error:", termtext.EscapeLines(err.Error()))
	}
}

func newRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "banger",
		Short:         "Persistent Linux development VMs on your workstation",
		Long:          "banger runs persistent Linux development VMs (Firecracker or qemu microVMs) managed by the bangerd daemon.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	e := &env{io: stdio}
	root.AddCommand(
		newVMCmd(e),
		newImageCmd(e),
		newDaemonCmd(e),
		newDoctorCmd(e),
		newTUICmd(e),
	)
	root.AddCommand(newSSHConfigCmd(e), newEventsCmd(e))
	addCompletions(e, root)
	for _, c := range root.Commands() {
		markUsage(c)
	}
	return root
}

// markUsage makes argument-count errors of every subcommand usage errors.
func markUsage(c *cobra.Command) {
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
