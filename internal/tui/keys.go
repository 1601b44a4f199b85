package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/termtext"
)

// handleKey decides what a key does: a pending question takes every key,
// then the help screen, then global keys, then (when the list is ready)
// navigation and the actions on the selected VM.
func (m Model) handleKey(k tea.KeyMsg) (Model, tea.Cmd) {
	keys := m.keys
	if key.Matches(k, keys.ForceQuit) {
		return m, tea.Quit
	}
	if m.confirm != nil {
		return m.answer(k)
	}
	if m.showHelp {
		switch {
		case key.Matches(k, keys.Quit):
			return m.quit()
		case key.Matches(k, keys.Help, keys.Back):
			m.showHelp = false
		}
		return m, nil
	}
	switch {
	case key.Matches(k, keys.Quit):
		return m.quit()
	case key.Matches(k, keys.Help):
		m.showHelp = true
		return m, nil
	case key.Matches(k, keys.Refresh):
		return m, tea.Batch(m.refresh(), m.refreshDetails())
	}
	if m.state != stateReady {
		return m, nil
	}
	if key.Matches(k, keys.Back) {
		m.pane = paneNone
		return m, nil
	}
	if key.Matches(k, keys.navigation()...) {
		before := m.table.selectedID()
		m.table = m.table.update(k)
		return m, m.followSelection(before)
	}
	vm, ok := m.selected()
	if !ok {
		if m.isAction(k) {
			m.status = statusLine{text: "no VM selected", err: true}
		}
		return m, nil
	}
	switch {
	case key.Matches(k, keys.Details):
		if m.pane == paneDetails && m.details.id == vm.ID {
			m.pane = paneNone
			return m, nil
		}
		return m, m.openDetails(vm)
	case key.Matches(k, keys.Ports):
		if m.pane == panePorts && m.ports.id == vm.ID {
			m.pane = paneNone
			return m, nil
		}
		return m, m.openPorts(vm)
	case key.Matches(k, keys.Start):
		return m, m.startOp("start", vm)
	case key.Matches(k, keys.Stop):
		return m, m.startOp("stop", vm)
	case key.Matches(k, keys.Restart):
		return m, m.startOp("restart", vm)
	case key.Matches(k, keys.Delete):
		m.confirm = &confirmation{vm: vm, prompt: fmt.Sprintf("delete %s and its disks?", vm.Name)}
		if vm.State == api.StateRunning {
			m.confirm.force = true
			m.confirm.prompt = fmt.Sprintf("%s is running: stop it and delete it with its disks (force)?", vm.Name)
		}
		return m, nil
	case key.Matches(k, keys.NAT):
		on := !vm.NAT
		m.status = statusLine{text: fmt.Sprintf("%s: turning NAT %s…", vm.Name, onOff(on))}
		return m, setNAT(m.ctx, m.backend, vm, on)
	case key.Matches(k, keys.SSH):
		return m.ssh(vm)
	}
	return m, nil
}

func (m Model) isAction(k tea.KeyMsg) bool {
	keys := m.keys
	return key.Matches(k, keys.Details, keys.Ports, keys.Start, keys.Stop, keys.Restart, keys.Delete, keys.NAT, keys.SSH)
}

// followSelection moves an open pane to the newly selected VM.
func (m *Model) followSelection(before string) tea.Cmd {
	vm, ok := m.selected()
	if !ok || vm.ID == before {
		return nil
	}
	switch m.pane {
	case paneDetails:
		return m.openDetails(vm)
	case panePorts:
		return m.openPorts(vm)
	}
	return nil
}

func (m Model) answer(k tea.KeyMsg) (Model, tea.Cmd) {
	c := m.confirm
	switch {
	case key.Matches(k, m.keys.Yes):
		m.confirm = nil
		if c.quit {
			return m, tea.Quit
		}
		m.status = statusLine{text: c.vm.Name + ": deleting…"}
		return m, deleteVM(m.ctx, m.backend, c.vm, c.force)
	case key.Matches(k, m.keys.No):
		m.confirm = nil
		if !c.quit {
			m.status = statusLine{text: c.vm.Name + ": not deleted"}
		}
	}
	return m, nil
}

// quit asks first when operations are running: bangerd cancels an
// operation whose request goes away.
func (m Model) quit() (Model, tea.Cmd) {
	if len(m.ops) == 0 {
		return m, tea.Quit
	}
	m.confirm = &confirmation{quit: true, prompt: fmt.Sprintf("%d operation(s) still running; quitting cancels them. quit anyway?", len(m.ops))}
	return m, nil
}

func (m Model) ssh(vm api.VM) (Model, tea.Cmd) {
	switch {
	case vm.State != api.StateRunning && vm.LastError != "":
		// After a failed start, "start it" alone is advice the user has
		// just followed: lead with the recorded cause, as vm ssh does.
		cause, _, _ := strings.Cut(vm.LastError, "\n")
		m.status = statusLine{text: fmt.Sprintf("%s is %s: %s", vm.Name, vm.State, termtext.Escape(cause)), hint: "enter shows the details; fix the cause, then s starts it", err: true}
		return m, nil
	case vm.State != api.StateRunning:
		m.status = statusLine{text: fmt.Sprintf("%s is %s: start it with s first", vm.Name, vm.State), err: true}
		return m, nil
	case m.sshArgv == nil:
		m.status = statusLine{text: "ssh is not available here", err: true}
		return m, nil
	}
	m.status = statusLine{text: "ssh to " + vm.Name + "…"}
	return m, sshSession(m.sshArgv(vm), vm.Name)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
