package tui

import (
	"context"
	"net/http"
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
		var vms []api.VM
		err := b.Do(ctx, http.MethodGet, "/v1/vms", nil, &vms)
		return vmsMsg{vms: vms, err: err}
	}
}

func fetchDetails(ctx context.Context, b Backend, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		msg := detailsMsg{id: id}
		if msg.err = b.Do(ctx, http.MethodGet, vmPath(id, ""), nil, &msg.vm); msg.err != nil {
			return msg
		}
		if msg.vm.State == api.StateRunning {
			var st api.VMStats
			if err := b.Do(ctx, http.MethodGet, vmPath(id, "/stats"), nil, &st); err != nil {
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
		var pr api.PortsResponse
		err := b.Do(ctx, http.MethodGet, vmPath(id, "/ports"), nil, &pr)
		return portsMsg{id: id, ports: pr.Ports, err: err}
	}
}

// runOp runs a streamed lifecycle operation (start, stop, restart) to its
// end; progress goes to the inbox as it arrives. It has no timeout of its
// own: the daemon bounds each step.
func runOp(ctx context.Context, b Backend, inbox chan<- tea.Msg, id int, verb, vmID string) tea.Cmd {
	return func() tea.Msg {
		var body any
		if verb == "stop" {
			body = api.StopRequest{}
		}
		vm, err := b.Stream(ctx, http.MethodPost, vmPath(vmID, "/"+verb), body, func(ev api.Event) {
			post(ctx, inbox, opProgressMsg{id: id, ev: ev})
		})
		return opDoneMsg{id: id, vm: vm, err: err}
	}
}

func setNAT(ctx context.Context, b Backend, vm api.VM, on bool) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		err := b.Do(ctx, http.MethodPatch, vmPath(vm.ID, ""), api.SetVMRequest{NAT: &on}, nil)
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
		path := vmPath(vm.ID, "")
		if force {
			path += "?force=true"
		}
		err := b.Do(ctx, http.MethodDelete, path, nil, nil)
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
