// Package noquery keeps the terminal untouched while banger starts.
//
// Bubble Tea's package init asks Lip Gloss whether the terminal background
// is dark, and Lip Gloss answers by writing ESC ]11;? and ESC [6n to
// stdout and reading stdin for the reply. banger links the TUI into the
// CLI, so without this package every command (`banger vm list` in a
// script, on a serial console) would send those bytes, wait up to 5 s on a
// terminal that never answers, and swallow the user's typeahead.
//
// Its init fixes the answer of Lip Gloss's default renderer, so Bubble
// Tea's init has nothing to ask. It runs first because Go initializes, of
// the packages whose imports are done, the first by import path (Go spec,
// "Package initialization"): this package imports only lipgloss, and
// "banger/..." sorts before "github.com/charmbracelet/bubbletea". The TUI
// asks the terminal itself, through its own renderer, when it starts
// (tui.Run). Import it, for its side effect, from every package that
// imports Bubble Tea.
package noquery

import "github.com/charmbracelet/lipgloss"

func init() {
	// Only the default renderer's answer is fixed; the TUI's own renderer
	// still asks the terminal it runs on.
	lipgloss.SetHasDarkBackground(true)
}
