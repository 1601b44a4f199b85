package tui

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
)

// Every call to bangerd happens in one of these commands, which Bubble Tea
// runs off the UI goroutine. Commands that report more than once (progress,
// the event stream) post to the model's inbox, which Update keeps one
// listen command waiting on.

const (
	listTimeout  = 5 * time.Second
	probeTimeout = 15 * time.Second // stats and ports ask the guest agent
)

func fetchVMs(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, listTimeout)
		defer cancel()
		vms, err := b.ListVMs(ctx)
		return vmsMsg{vms: vms, err: err}
	}
}

func fetchDetails(ctx context.Context, b Backend, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		msg := detailsMsg{id: id}
		if msg.vm, msg.err = b.GetVM(ctx, id); msg.err != nil {
			return msg
		}
		if msg.vm.State == api.StateRunning {
			if st, err := b.VMStats(ctx, id); err != nil {
				msg.statsErr = err
			} else {
				msg.stats = &st
			}
		}
		return msg
	}
}

func fetchPorts(ctx context.Context, b Backend, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		pr, err := b.VMPorts(ctx, id)
		return portsMsg{id: id, ports: pr.Ports, err: err}
	}
}

// runOp runs a streamed lifecycle operation (start, stop, restart) to its
// end; progress goes to the inbox as it arrives. It has no timeout of its
// own: the daemon bounds each step.
func runOp(ctx context.Context, b Backend, inbox chan<- tea.Msg, id int, verb, vmID string) tea.Cmd {
	return func() tea.Msg {
		progress := func(ev api.Event) { post(ctx, inbox, opProgressMsg{id: id, ev: ev}) }
		var vm api.VM
		var err error
		switch verb {
		case "start":
			vm, err = b.StartVM(ctx, vmID, progress)
		case "stop":
			vm, err = b.StopVM(ctx, vmID, api.StopRequest{}, progress)
		case "restart":
			vm, err = b.RestartVM(ctx, vmID, progress)
		default:
			err = fmt.Errorf("unknown operation %q", verb)
		}
		if err != nil {
			return opDoneMsg{id: id, err: err}
		}
		return opDoneMsg{id: id, vm: &vm}
	}
}

func setNAT(ctx context.Context, b Backend, vm api.VM, on bool) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		_, err := b.SetVM(ctx, vm.ID, api.SetVMRequest{NAT: &on})
		done := "NAT off"
		if on {
			done = "NAT on"
		}
		return actionDoneMsg{name: vm.Name, done: done, verb: "set NAT", err: err}
	}
}

// deleteVM has no timeout: deleting a running VM (force) stops it first.
func deleteVM(ctx context.Context, b Backend, vm api.VM, force bool) tea.Cmd {
	return func() tea.Msg {
		_, err := b.DeleteVM(ctx, vm.ID, force)
		return actionDoneMsg{name: vm.Name, done: "deleted", verb: "delete", err: err}
	}
}

// watchEvents follows GET /v1/events until it ends, posting each event.
func watchEvents(ctx context.Context, b Backend, inbox chan<- tea.Msg) tea.Cmd {
	return func() tea.Msg {
		err := b.Events(ctx, func(ev api.Event) { post(ctx, inbox, eventMsg{ev: ev}) })
		return eventsEndedMsg{err: err}
	}
}

// sshSession suspends the TUI and runs ssh on the terminal.
func sshSession(argv []string, name string) tea.Cmd {
	// The interactive session belongs to the user, who ends it; it is not
	// tied to a context. Bubble Tea restores the screen afterwards.
	c := exec.Command(argv[0], argv[1:]...)
	return tea.ExecProcess(c, func(err error) tea.Msg { return sshDoneMsg{name: name, err: err} })
}

func tick(every time.Duration) tea.Cmd {
	return tea.Tick(every, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// listen waits for the next message a running command posts.
func listen(inbox <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg { return inboxMsg{msg: <-inbox} }
}

func post(ctx context.Context, inbox chan<- tea.Msg, msg tea.Msg) {
	select {
	case inbox <- msg:
	case <-ctx.Done():
	}
}
