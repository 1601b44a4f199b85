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

// DefaultStyles returns the TUI's styles.
func DefaultStyles() Styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7D79F6"}
	dim := lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#777777"}
	return Styles{
		Title:     lipgloss.NewStyle().Bold(true).Foreground(accent),
		Dim:       lipgloss.NewStyle().Foreground(dim),
		Error:     lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9")),
		Hint:      lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		OK:        lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		Warn:      lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("11")),
		Label:     lipgloss.NewStyle().Foreground(dim).Width(14),
		Pane:      lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(dim).Padding(0, 1),
		PaneTitle: lipgloss.NewStyle().Bold(true).Foreground(accent),
		Table: table.Styles{
			Header:   lipgloss.NewStyle().Bold(true).PaddingRight(1),
			Cell:     lipgloss.NewStyle().PaddingRight(1),
			Selected: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(accent),
		},
	}
}
