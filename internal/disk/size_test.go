package disk

import (
	"strings"
	"testing"

	"banger/internal/humanize"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"2048", 2048},
		{"512M", 512 << 20},
		{"512m", 512 << 20},
		{"16G", 16 << 30},
		{"16GiB", 16 << 30},
		{"16gib", 16 << 30},
		{"1T", 1 << 40},
		{"4K", 4096},
		{" 8G ", 8 << 30},
		{"8 G", 8 << 30},
		{"8388607T", 8388607 << 40},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"16X", `"16X" has an unknown unit: want a whole number of bytes`},
		{"16GB", "unknown unit"},
		{"16B", "unknown unit"},
		{"iB", "unknown unit"},
		{"G", `"G" has no number`},
		{"-1G", `"-1G" is negative`},
		{"0", `"0" is zero`},
		{"0G", "is zero"},
		{"1.5G", `"1.5G" is fractional`},
		{"8388608T", "too large"},
		{"99999999999999999999", "too large"},
		{"1G1", "unknown unit"},
	} {
		_, err := ParseSize(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSize(%q) error = %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// Every whole size banger shows reads back as the same size, so a size
// from a message can be given to --disk-size.
func TestParseSizeReadsWhatHumanizeShows(t *testing.T) {
	for _, n := range []int64{1024, 4096, 512 << 20, 8 << 30, 1 << 40, 3 << 29 * 2} {
		shown := humanize.Bytes(n)
		if back, err := ParseSize(shown); err != nil || back != n {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", shown, back, err, n)
		}
	}
}
