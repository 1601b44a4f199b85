package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
)

// KeyMap is every key the TUI answers to. It satisfies help.KeyMap.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Details, Start, Stop, Restart, Delete, NAT, Ports, SSH key.Binding

	Refresh, Back, Help, Quit, ForceQuit key.Binding

	Yes, No key.Binding
}

// DefaultKeyMap returns the TUI's key bindings.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, helpKey, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))
	}
	return KeyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown"}, "pgdn", "page down"),
		Top:      b([]string{"home", "g"}, "g/home", "first VM"),
		Bottom:   b([]string{"end", "G"}, "G/end", "last VM"),

		Details: b([]string{"enter"}, "enter", "details"),
		Start:   b([]string{"s"}, "s", "start"),
		Stop:    b([]string{"x"}, "x", "stop"),
		Restart: b([]string{"r"}, "r", "restart"),
		Delete:  b([]string{"d"}, "d", "delete"),
		NAT:     b([]string{"n"}, "n", "toggle NAT"),
		Ports:   b([]string{"p"}, "p", "ports"),
		SSH:     b([]string{"c"}, "c", "ssh"),

		Refresh:   b([]string{"R"}, "R", "refresh now"),
		Back:      b([]string{"esc"}, "esc", "close pane"),
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q"}, "q", "quit"),
		ForceQuit: b([]string{"ctrl+c"}, "ctrl+c", "quit"),

		Yes: b([]string{"y", "Y"}, "y", "yes"),
		No:  b([]string{"n", "N", "esc"}, "n", "no"),
	}
}

// ShortHelp is the one-line help under the table.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Details, k.Start, k.Stop, k.Restart, k.Delete, k.NAT, k.Ports, k.SSH, k.Help, k.Quit}
}

// FullHelp is the help screen, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Details, k.Ports, k.SSH, k.NAT, k.Back},
		{k.Start, k.Stop, k.Restart, k.Delete},
		{k.Refresh, k.Help, k.Quit, k.ForceQuit},
	}
}

// tableKeyMap hands the navigation keys to the table component; its
// default half-page bindings (d, u) would steal delete.
func (k KeyMap) tableKeyMap() table.KeyMap {
	return table.KeyMap{
		LineUp:     k.Up,
		LineDown:   k.Down,
		PageUp:     k.PageUp,
		PageDown:   k.PageDown,
		GotoTop:    k.Top,
		GotoBottom: k.Bottom,
	}
}

// navigation are the keys that move the selection.
func (k KeyMap) navigation() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}
