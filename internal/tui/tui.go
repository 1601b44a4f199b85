// Package tui is `banger tui`: a Bubble Tea terminal UI over bangerd's API
// that lists VMs, follows lifecycle events, shows a VM's details, stats and
// ports, and starts, stops, restarts, deletes, re-NATs and SSHes into VMs.
//
// It owns the screen, the keymap (keymap.go) and the styles (styles.go).
// Update never blocks: every request to bangerd runs in a tea.Cmd
// (commands.go) and comes back as a message, and the model is always in
// an explicit loading, error or ready state. It talks to nothing but
// bangerd (through Backend) and the ssh command line it is handed.
package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"banger/internal/api"
	_ "banger/internal/tui/noquery" // before Bubble Tea's init: see the package
)

// Options configure the TUI.
type Options struct {
	// Backend talks to bangerd; normally a *client.Client.
	Backend Backend
	// SSHArgv is the ssh command line for a running VM, the same one
	// `banger vm ssh` runs. Nil disables the ssh key.
	SSHArgv func(api.VM) []string
	// Describe splits an error into message and hint; nil shows bangerd's
	// own message and hint.
	Describe Describe
	// StartErr is why bangerd could not be started; it is shown until
	// bangerd answers.
	StartErr error
	// RefreshEvery is how often the VM list is refetched when no event
	// arrives (default 3s).
	RefreshEvery time.Duration
	// In and Out default to the process's terminal.
	In  io.Reader
	Out io.Writer
}

// renderer is a Lip Gloss renderer for out (default stdout), the
// terminal the TUI draws on.
func renderer(out io.Writer) *lipgloss.Renderer {
	if out == nil {
		out = os.Stdout
	}
	return lipgloss.NewRenderer(out)
}

// Run shows the TUI until the user quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the event stream and any request still running
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen()}
	if o.In != nil {
		opts = append(opts, tea.WithInput(o.In))
	}
	if o.Out != nil {
		opts = append(opts, tea.WithOutput(o.Out))
	}
	// Ask the terminal for its background now, before Bubble Tea takes
	// over its input and the answer would be read as keys.
	r := renderer(o.Out)
	r.HasDarkBackground()
	_, err := tea.NewProgram(newModel(ctx, o, NewStyles(r)), opts...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // interrupted by a signal: not an error of the TUI
	}
	return err
}
