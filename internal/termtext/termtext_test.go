package termtext

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want, lines string }{
		{"python3 -m http.server 8000", "python3 -m http.server 8000", ""},
		{"café ☕ 日本語 ✓", "café ☕ 日本語 ✓", ""},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`, ""},
		{"\x1b]52;c;cm0gLXJmIH4=\x1b\\", `\x1b]52;c;cm0gLXJmIH4=\x1b\`, ""},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`, ""},
		{"a\x00b\x7fc", `a\x00b\x7fc`, ""},
		{"tab\there\nnext\r", `tab\x09here\x0anext\x0d`, "tab\there\nnext\\x0d"},
		{"c1 \u009b31m \u0085", `c1 \u009b31m \u0085`, ""},
		{"raw \x9b31m \xff", `raw \x9b31m \xff`, ""},
		{"evil\u202ecod.exe", `evil\u202ecod.exe`, ""},
		{"iso\u2066x\u2069 sep\u2028", `iso\u2066x\u2069 sep\u2028`, ""},
		{"", "", ""},
	} {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		wantLines := tc.lines
		if wantLines == "" {
			wantLines = tc.want
		}
		if got := EscapeLines(tc.in); got != wantLines {
			t.Errorf("EscapeLines(%q) = %q, want %q", tc.in, got, wantLines)
		}
		if again := Escape(got); again != got {
			t.Errorf("Escape is not idempotent on %q: %q", got, again)
		}
		for _, c := range got {
			if c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) {
				t.Errorf("Escape(%q) = %q still holds %U", tc.in, got, c)
			}
		}
	}
}

func TestEscapeEveryByte(t *testing.T) {
	var all strings.Builder
	for i := range 256 {
		all.WriteByte(byte(i))
	}
	out := Escape(all.String())
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 || c >= 0x7f {
			t.Fatalf("byte %#x survived at %d: %q", c, i, out)
		}
	}
}
