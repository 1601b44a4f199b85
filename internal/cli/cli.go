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

// hintError is a CLI error with what to do next.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

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
	msg, hint := describe(err)
	fmt.Fprintln(w, "error:", termtext.EscapeLines(msg))
	if hint != "" {
		fmt.Fprintln(w, "hint:", termtext.EscapeLines(hint))
	}
}

// describe splits err into what failed and what to do next: bangerd's own
// message and hint, or a hint of the CLI's for errors that never reached
// bangerd. The CLI and the TUI both show errors through it.
func describe(err error) (msg, hint string) {
	msg, hint = client.ErrorParts(err)
	if hint != "" {
		return msg, hint
	}
	var he hintError
	switch {
	case errors.As(err, &he):
		hint = he.hint
	case errors.As(err, new(*artifacts.UnavailableError)):
		hint = "on a host that reaches the npm registry, run `banger image fetch --mirror DIR` (with artifact_mirror pointing at the git bundles), copy DIR here and set artifact_mirror = \"DIR\" in ~/.config/banger/config.toml or BANGER_ARTIFACT_MIRROR=DIR"
	case errors.As(err, new(*artifacts.MismatchError)):
		hint = "nothing was cached; replace or remove the file it came from, or, if the pin is out of date, update it in internal/image/artifacts"
	case errors.As(err, new(*client.ForeignPeerError)), errors.As(err, new(*paths.UnsafeRuntimeDirError)):
		hint = "on a shared host another user can claim /tmp/banger-<uid>; log in through a session that sets XDG_RUNTIME_DIR (systemd-logind does) or export XDG_RUNTIME_DIR=/run/user/$(id -u)"
	case errors.Is(err, client.ErrUnreachable):
		hint = "is bangerd running? `banger daemon status` starts it; its log is " + daemonLogFile()
	}
	return msg, hint
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
	root.SetHelpCommand(newHelpCmd(root))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	markUsage(root)
	return root
}

// daemonLogFile names bangerd's log for a hint.
func daemonLogFile() string {
	if l, err := paths.FromEnv(); err == nil {
		return l.LogFile()
	}
	return "bangerd.log in banger's state directory"
}
