package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/termtext"
)

// state is what the VM list shows.
type state int

const (
	stateLoading state = iota // the first list has not come back yet
	stateReady                // the last list fetch succeeded
	stateError                // the last list fetch failed; retried every tick
)

const defaultRefresh = 3 * time.Second

// operation is a start, stop or restart running in the background.
type operation struct {
	id      int
	verb    string
	vmID    string
	name    string
	started time.Time
	step    string // latest progress message
}

var (
	verbPast = map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}
	verbING  = map[string]string{"start": "starting", "stop": "stopping", "restart": "restarting"}
)

// statusLine is the last outcome shown above the help line.
type statusLine struct {
	text string
	hint string
	err  bool
}

// confirmation is a pending y/n question.
type confirmation struct {
	prompt string
	vm     api.VM
	force  bool // delete a running VM
	quit   bool // quit although operations are running
}

// Model is the TUI's state. Its zero value is not usable; call New.
type Model struct {
	ctx      context.Context
	backend  Backend
	sshArgv  func(api.VM) []string
	describe Describe
	now      func() time.Time
	every    time.Duration
	inbox    chan tea.Msg

	keys          KeyMap
	styles        Styles
	help          help.Model
	spinner       spinner.Model
	table         vmTable
	width, height int

	state    state
	err      error // why stateError
	startErr error // why bangerd did not start, until it answers
	vms      []api.VM
	fetching bool // a list request is running
	refetch  bool // fetch again when it returns
	live     bool // following GET /v1/events
	spinning bool

	pane     pane
	details  detailsView
	ports    portsView
	showHelp bool
	confirm  *confirmation

	ops    []operation
	nextOp int
	status statusLine
}

// New returns the model Run shows; commands use ctx.
func New(ctx context.Context, o Options) Model {
	return newModel(ctx, o, NewStyles(renderer(o.Out)))
}

func newModel(ctx context.Context, o Options, st Styles) Model {
	every := o.RefreshEvery
	if every <= 0 {
		every = defaultRefresh
	}
	keys := DefaultKeyMap()
	m := Model{
		ctx:      ctx,
		backend:  o.Backend,
		sshArgv:  o.SSHArgv,
		describe: o.Describe,
		now:      time.Now,
		every:    every,
		inbox:    make(chan tea.Msg, 64),
		keys:     keys,
		styles:   st,
		help:     help.New(),
		spinner:  spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(st.Title)),
		table:    newVMTable(keys, st),
		width:    80,
		height:   24,
		state:    stateLoading,
		startErr: o.StartErr,
		fetching: true, // Init fetches
		live:     true, // Init subscribes
		spinning: true,
	}
	m.layout()
	return m
}

// Init fetches the list, follows events and starts the refresh tick.
func (m Model) Init() tea.Cmd {
	return tea.Batch(
		fetchVMs(m.ctx, m.backend),
		watchEvents(m.ctx, m.backend, m.inbox),
		listen(m.inbox),
		tick(m.every),
		m.spinner.Tick,
	)
}

// Update applies one message. Posted messages arrive wrapped in inboxMsg,
// and the inbox is listened to again for the next one.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	if in, ok := msg.(inboxMsg); ok {
		msg = in.msg
		cmds = append(cmds, listen(m.inbox))
	}
	m, cmd := m.update(msg)
	cmds = append(cmds, cmd, m.startSpinner())
	m.layout()
	return m, tea.Batch(cmds...)
}

func (m Model) update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		return m.handleKey(msg)
	case spinner.TickMsg:
		if !m.busy() {
			m.spinning = false
			return m, nil
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	case tickMsg:
		return m, tea.Batch(m.refresh(), m.refreshDetails(), tick(m.every))
	case vmsMsg:
		return m.gotVMs(msg)
	case detailsMsg:
		m.gotDetails(msg)
	case portsMsg:
		if m.ports.id == msg.id {
			m.ports.loading, m.ports.ports, m.ports.err = false, msg.ports, msg.err
		}
	case eventMsg:
		cmds := []tea.Cmd{m.refresh()}
		if m.pane == paneDetails && msg.ev.VM == m.details.name {
			cmds = append(cmds, m.refreshDetails())
		}
		return m, tea.Batch(cmds...)
	case eventsEndedMsg:
		// The next successful list subscribes again; until then the
		// tick keeps the list fresh.
		m.live = false
	case opProgressMsg:
		for i := range m.ops {
			if m.ops[i].id == msg.id && msg.ev.Message != "" {
				m.ops[i].step = termtext.Escape(msg.ev.Message)
			}
		}
	case opDoneMsg:
		return m.opDone(msg)
	case actionDoneMsg:
		if msg.err != nil {
			m.setError(msg.name+": "+msg.verb+" failed", msg.err)
		} else {
			m.status = statusLine{text: msg.name + ": " + msg.done}
		}
		return m, tea.Batch(m.refresh(), m.refreshDetails())
	case sshDoneMsg:
		m.status = sshStatus(msg)
		return m, m.refresh()
	}
	return m, nil
}

func (m Model) gotVMs(msg vmsMsg) (Model, tea.Cmd) {
	m.fetching = false
	var cmds []tea.Cmd
	if msg.err != nil {
		m.state, m.err = stateError, msg.err
	} else {
		m.state, m.err, m.startErr = stateReady, nil, nil
		m.vms = msg.vms
		m.table.setVMs(msg.vms, m.now())
		if !m.live {
			m.live = true
			cmds = append(cmds, watchEvents(m.ctx, m.backend, m.inbox))
		}
		if m.pane == paneDetails && !m.has(m.details.id) || m.pane == panePorts && !m.has(m.ports.id) {
			m.pane = paneNone
		}
	}
	if m.refetch {
		m.refetch = false
		cmds = append(cmds, m.refresh())
	}
	return m, tea.Batch(cmds...)
}

func (m *Model) gotDetails(msg detailsMsg) {
	d := &m.details
	if d.id != msg.id {
		return // the selection moved on
	}
	d.loading, d.inFlight = false, false
	if msg.err != nil {
		d.err = msg.err // a VM shown before stays, with the error under it
		return
	}
	d.vm, d.stats, d.statsErr, d.err = &msg.vm, msg.stats, msg.statsErr, nil
	d.name = msg.vm.Name
}

func (m Model) opDone(msg opDoneMsg) (Model, tea.Cmd) {
	for i, op := range m.ops {
		if op.id != msg.id {
			continue
		}
		m.ops = append(m.ops[:i:i], m.ops[i+1:]...)
		if msg.err != nil {
			m.setError(op.name+": "+op.verb+" failed", msg.err)
			break
		}
		text := op.name + ": " + verbPast[op.verb]
		if msg.vm != nil {
			text += " (" + msg.vm.State + ")"
		}
		m.status = statusLine{text: text}
		break
	}
	return m, tea.Batch(m.refresh(), m.refreshDetails())
}

// refresh fetches the list unless a fetch is running, in which case that
// one is followed by another: events in bursts cost two requests, not n.
func (m *Model) refresh() tea.Cmd {
	if m.fetching {
		m.refetch = true
		return nil
	}
	m.fetching = true
	return fetchVMs(m.ctx, m.backend)
}

// refreshDetails refetches the open details pane in the background.
func (m *Model) refreshDetails() tea.Cmd {
	if m.pane != paneDetails || m.details.inFlight {
		return nil
	}
	m.details.inFlight = true
	return fetchDetails(m.ctx, m.backend, m.details.id)
}

func (m *Model) openDetails(vm api.VM) tea.Cmd {
	m.pane = paneDetails
	if m.details.id != vm.ID {
		m.details = detailsView{id: vm.ID, name: vm.Name, loading: true}
	}
	return m.refreshDetails()
}

func (m *Model) openPorts(vm api.VM) tea.Cmd {
	m.pane = panePorts
	m.ports = portsView{id: vm.ID, name: vm.Name, loading: true}
	return fetchPorts(m.ctx, m.backend, vm.ID)
}

func (m *Model) startOp(verb string, vm api.VM) tea.Cmd {
	for _, op := range m.ops {
		if op.vmID == vm.ID {
			m.status = statusLine{text: fmt.Sprintf("%s: %s is still running", vm.Name, op.verb), err: true}
			return nil
		}
	}
	m.status = statusLine{} // the operation's own line replaces the last outcome
	m.nextOp++
	m.ops = append(m.ops, operation{id: m.nextOp, verb: verb, vmID: vm.ID, name: vm.Name, started: m.now()})
	return runOp(m.ctx, m.backend, m.inbox, m.nextOp, verb, vm.ID)
}

func (m *Model) setError(what string, err error) {
	msg, hint := m.describe.parts(err)
	m.status = statusLine{text: what + ": " + msg, hint: hint, err: true}
}

func (m Model) selected() (api.VM, bool) {
	id := m.table.selectedID()
	for _, vm := range m.vms {
		if vm.ID == id {
			return vm, true
		}
	}
	return api.VM{}, false
}

func (m Model) has(id string) bool {
	for _, vm := range m.vms {
		if vm.ID == id {
			return true
		}
	}
	return false
}

func (m Model) busy() bool {
	return m.state == stateLoading || len(m.ops) > 0 ||
		m.pane == paneDetails && m.details.loading || m.pane == panePorts && m.ports.loading
}

// startSpinner ticks the spinner only while something is in progress, so
// an idle TUI does not redraw ten times a second.
func (m *Model) startSpinner() tea.Cmd {
	if m.spinning || !m.busy() {
		return nil
	}
	m.spinning = true
	return m.spinner.Tick
}

// sshStatus reports how an ssh session ended. ssh's own message went to
// the terminal the TUI has now taken back, so a failure to connect points
// at the command that shows it. Any other exit status is the remote
// shell's and not a failure of banger's.
func sshStatus(msg sshDoneMsg) statusLine {
	var exitErr *exec.ExitError
	switch {
	case msg.err == nil:
		return statusLine{text: "ssh session to " + msg.name + " ended"}
	case errors.As(msg.err, &exitErr) && exitErr.ExitCode() == 255:
		return statusLine{text: "ssh " + msg.name + ": ssh could not connect or log in (exit status 255)",
			hint: "run `banger vm ssh " + msg.name + "` to see ssh's message", err: true}
	case errors.As(msg.err, &exitErr):
		return statusLine{text: fmt.Sprintf("ssh session to %s ended (exit status %d)", msg.name, exitErr.ExitCode())}
	}
	return statusLine{text: "ssh " + msg.name + ": " + msg.err.Error(), err: true}
}
