package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"banger/internal/client"
	"banger/internal/humanize"
)

const emptyText = "no VMs yet: create one with `banger vm create --name NAME`"

// View draws header, body and footer; the body fills what the footer
// leaves so the help line stays at the bottom.
func (m Model) View() string {
	h := m.bodyHeight()
	body := lipgloss.NewStyle().Width(m.width).Height(h).MaxHeight(h).Render(m.bodyView(h))
	return m.headerView() + "\n\n" + body + "\n" + m.footerView()
}

// layout sizes the table to the terminal and to an open pane.
func (m *Model) layout() {
	avail := m.bodyHeight()
	rows := avail - 1 // table header
	if m.pane != paneNone {
		rows = max(3, avail*2/5-1)
	}
	m.table.setSize(m.width, max(1, min(len(m.vms), rows)))
}

func (m Model) bodyHeight() int {
	return max(4, m.height-2-lipgloss.Height(m.footerView()))
}

func (m Model) headerView() string {
	st := m.styles
	left := st.Title.Render("banger")
	if m.state == stateReady {
		running := 0
		for _, vm := range m.vms {
			if vm.State == "running" {
				running++
			}
		}
		count := fmt.Sprintf(" · %d VMs, %d running", len(m.vms), running)
		switch len(m.vms) {
		case 0:
			count = " · no VMs"
		case 1:
			count = fmt.Sprintf(" · 1 VM, %d running", running)
		}
		left += st.Dim.Render(count)
	}
	var right string
	switch {
	case m.state == stateError:
		right = st.Error.Render("○ offline")
	case m.live:
		right = st.OK.Render("● live")
	default:
		right = st.Dim.Render(fmt.Sprintf("○ polling every %s", m.every))
	}
	gap := max(1, m.width-lipgloss.Width(left)-lipgloss.Width(right))
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) bodyView(height int) string {
	st := m.styles
	switch {
	case m.showHelp:
		return st.PaneTitle.Render("keys") + "\n\n" + m.help.FullHelpView(m.keys.FullHelp()) +
			"\n\n" + st.Dim.Render("the list follows bangerd's events and is refetched every "+m.every.String()+"; ? or esc closes this help")
	case m.state == stateLoading:
		return m.spinner.View() + " connecting to bangerd…"
	case m.state == stateError:
		return m.errorView()
	case len(m.vms) == 0:
		return st.Dim.Render(emptyText)
	}
	out := m.table.view()
	if m.pane != paneNone {
		out += "\n" + m.paneView(height-lipgloss.Height(out))
	}
	return out
}

func (m Model) errorView() string {
	st := m.styles
	title := "listing VMs failed"
	if errors.Is(m.err, client.ErrUnreachable) {
		title = "bangerd is not answering"
	}
	lines := []string{st.Error.Render("✗ " + title)}
	lines = append(lines, errorLines(st, m.describe, m.err)...)
	if m.startErr != nil {
		lines = append(lines, st.Error.Render("bangerd did not start: ")+m.startErr.Error())
	}
	lines = append(lines, "", st.Dim.Render(fmt.Sprintf("retrying every %s; R retries now, q quits", m.every)))
	return strings.Join(lines, "\n")
}

// paneView frames the open pane, cut to height lines.
func (m Model) paneView(height int) string {
	var lines []string
	switch m.pane {
	case paneDetails:
		lines = m.details.lines(m.styles, m.describe, m.now())
	case panePorts:
		lines = m.ports.lines(m.styles, m.describe)
	}
	inner := max(10, m.width-4) // border and padding
	if fit := max(1, height-2); len(lines) > fit {
		lines = append(lines[:fit-1], m.styles.Dim.Render("… (a taller terminal shows more)"))
	}
	cut := lipgloss.NewStyle().MaxWidth(inner)
	for i, l := range lines {
		lines[i] = cut.Render(l)
	}
	return m.styles.Pane.Width(inner + 2).Render(strings.Join(lines, "\n"))
}

func (m Model) footerView() string {
	st := m.styles
	var lines []string
	for _, op := range m.ops {
		line := fmt.Sprintf("%s%s: %s", m.spinner.View(), op.name, verbING[op.verb])
		if op.step != "" {
			line += " · " + op.step
		}
		line += st.Dim.Render(fmt.Sprintf(" (%s)", humanize.Duration(m.now().Sub(op.started))))
		lines = append(lines, line)
	}
	if s := m.status; s.text != "" {
		if s.err {
			lines = append(lines, st.Error.Render("✗ ")+s.text)
		} else {
			lines = append(lines, st.OK.Render("✓ ")+s.text)
		}
		if s.hint != "" {
			lines = append(lines, st.Hint.Render("  hint: ")+s.hint)
		}
	}
	if c := m.confirm; c != nil {
		lines = append(lines, st.Warn.Render(c.prompt)+" [y/n]")
	}
	lines = append(lines, m.helpLines(m.helpKeys())...)
	// Wrap rather than cut: an error message matters to its last word.
	wrap := lipgloss.NewStyle().Width(m.width)
	for i, l := range lines {
		lines[i] = wrap.Render(l)
	}
	return strings.Join(lines, "\n")
}

// helpKeys are the keys that do something right now.
func (m Model) helpKeys() []key.Binding {
	k := m.keys
	switch {
	case m.confirm != nil:
		return []key.Binding{k.Yes, k.No}
	case m.showHelp:
		return []key.Binding{k.Help, k.Quit}
	case m.state != stateReady:
		return []key.Binding{k.Refresh, k.Help, k.Quit}
	case len(m.vms) == 0:
		return []key.Binding{k.Refresh, k.Help, k.Quit}
	case m.pane != paneNone:
		return append(k.ShortHelp()[:len(k.ShortHelp())-2], k.Back, k.Help, k.Quit)
	}
	return k.ShortHelp()
}

// helpLines lays the short help out on as many lines as the width needs,
// so that "? help" and "q quit" are never cut off.
func (m Model) helpLines(bindings []key.Binding) []string {
	var lines []string
	var cur []key.Binding
	for _, b := range bindings {
		try := append(append([]key.Binding(nil), cur...), b)
		if len(cur) > 0 && lipgloss.Width(m.help.ShortHelpView(try)) > m.width {
			lines = append(lines, m.help.ShortHelpView(cur))
			try = []key.Binding{b}
		}
		cur = try
	}
	return append(lines, m.help.ShortHelpView(cur))
}
