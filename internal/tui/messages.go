package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
)

// Messages that commands send back to Update. Each carries what it
// fetched or the error; Update never does I/O itself.
type (
	// vmsMsg is the reply to GET /v1/vms.
	vmsMsg struct {
		vms []api.VM
		err error
	}
	// detailsMsg is GET /v1/vms/{id} plus, for a running VM, its stats.
	detailsMsg struct {
		id       string
		vm       api.VM
		stats    *api.VMStats
		statsErr error
		err      error
	}
	// portsMsg is GET /v1/vms/{id}/ports.
	portsMsg struct {
		id    string
		ports []api.Port
		err   error
	}
	// opProgressMsg is one progress event of a running start/stop/restart.
	opProgressMsg struct {
		id int
		ev api.Event
	}
	// opDoneMsg ends a start/stop/restart.
	opDoneMsg struct {
		id  int
		vm  *api.VM
		err error
	}
	// actionDoneMsg ends a short request (NAT, delete).
	actionDoneMsg struct {
		name string
		done string // what happened, for the status line
		verb string // what was tried, for an error
		err  error
	}
	// eventMsg is one lifecycle event from GET /v1/events.
	eventMsg struct{ ev api.Event }
	// eventsEndedMsg says the event stream closed (daemon gone or restarted).
	eventsEndedMsg struct{ err error }
	// sshDoneMsg follows an ssh session run with the TUI suspended.
	sshDoneMsg struct {
		name string
		err  error
	}
	// tickMsg drives the periodic refresh that backs up the event stream.
	tickMsg time.Time
	// inboxMsg wraps a message that a running command posted to the inbox.
	inboxMsg struct{ msg tea.Msg }
)
