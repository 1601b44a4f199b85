package tui

import (
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/lipgloss"
)

// Styles are the TUI's colours and frames. Without a colour terminal
// lipgloss drops the colours and keeps the layout.
type Styles struct {
	Title     lipgloss.Style
	Dim       lipgloss.Style
	Error     lipgloss.Style
	Hint      lipgloss.Style
	OK        lipgloss.Style
	Warn      lipgloss.Style
	Label     lipgloss.Style
	Pane      lipgloss.Style
	PaneTitle lipgloss.Style
	Table     table.Styles
}

// NewStyles returns the TUI's styles for the terminal r renders to. They
// are built when the TUI starts, never at package init: resolving an
// adaptive colour asks the terminal for its background.
func NewStyles(r *lipgloss.Renderer) Styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7D79F6"}
	dim := lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#777777"}
	return Styles{
		Title:     r.NewStyle().Bold(true).Foreground(accent),
		Dim:       r.NewStyle().Foreground(dim),
		Error:     r.NewStyle().Bold(true).Foreground(lipgloss.Color("9")),
		Hint:      r.NewStyle().Foreground(lipgloss.Color("11")),
		OK:        r.NewStyle().Foreground(lipgloss.Color("10")),
		Warn:      r.NewStyle().Bold(true).Foreground(lipgloss.Color("11")),
		Label:     r.NewStyle().Foreground(dim).Width(14),
		Pane:      r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(dim).Padding(0, 1),
		PaneTitle: r.NewStyle().Bold(true).Foreground(accent),
		Table: table.Styles{
			Header:   r.NewStyle().Bold(true).PaddingRight(1),
			Cell:     r.NewStyle().PaddingRight(1),
			Selected: r.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(accent),
		},
	}
}
