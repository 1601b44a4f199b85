// Package termtext makes text that came from a guest safe to print on a
// terminal. A guest chooses its process names, command lines, hostnames,
// agent errors and console output; printed raw, an escape sequence in any
// of them can retitle the user's terminal, write their clipboard (OSC 52)
// or rewrite what is on screen. The CLI and the TUI pass every such string
// through Escape (or EscapeLines) before printing it; --json output stays
// exact and is not this package's business.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character that a terminal would act on
// rather than show replaced by a visible escape: C0 controls (tab and
// newline included), DEL and invalid UTF-8 bytes as \xHH, C1 controls and
// the Unicode bidirectional and line-separator controls as \uHHHH.
// Printable Unicode is kept. Escape(Escape(s)) == Escape(s).
func Escape(s string) string { return escape(s, false) }

// EscapeLines is Escape for multi-line text (an error quoting console
// lines): newlines and tabs are kept, everything else is escaped.
func EscapeLines(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	if clean(s, lines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case lines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isHidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean reports whether s needs no escaping, without allocating.
func clean(s string, lines bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(lines && (c == '\n' || c == '\t')) || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || isHidden(r) {
			return false
		}
		i += size
	}
	return true
}

// isHidden reports the non-ASCII runes a terminal acts on or that change
// how surrounding text reads: C1 controls (U+0080–U+009F, CSI and OSC
// among them), bidirectional overrides and isolates ("Trojan Source"),
// and the line and paragraph separators.
func isHidden(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}
