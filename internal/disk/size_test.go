package disk

import (
	"strings"
	"testing"
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

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0", 1023: "1023", 4095: "4.0K", 4096: "4K", 512 << 20: "512M", 8 << 30: "8G",
		3 << 29: "1.5G", 1 << 40: "1T", 1<<30 + 1: "1.0G",
	} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
		if in > 0 && !strings.Contains(want, ".") {
			if back, err := ParseSize(want); err != nil || back != in {
				t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", in, back, err)
			}
		}
	}
}
