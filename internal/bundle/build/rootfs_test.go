package build

import (
	"io/fs"
	"testing"
)

func TestSpecialModeFiles(t *testing.T) {
	out := `debugfs 1.47.0 (5-Feb-2023)
debugfs: ls -l "/usr/bin"
    759  100755 (1)      0      0   345280 11-Apr-2026 12:01 cvtsudoers
    925  104755 (1)      0      0   68248 14-Dec-2025 14:00 passwd
    926  102755 (1)      0     42   68248 14-Dec-2025 14:00 with space
   1037  120777 (7)      0      0       4 11-Apr-2026 12:01 sudoedit
debugfs: ls -l "/"
     12   41777 (2)      0      0    4096 28-Nov-2026 12:52 tmp
     13  106755 (1)      0      0    4096 28-Nov-2026 12:52 both
`
	got := specialModeFiles(out)
	want := []modeFix{
		{"/usr/bin/passwd", 0o755 | fs.ModeSetuid},
		{"/usr/bin/with space", 0o755 | fs.ModeSetgid},
		{"/both", 0o755 | fs.ModeSetuid | fs.ModeSetgid},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("fix %d = %v, want %v", i, got[i], want[i])
		}
	}
}
