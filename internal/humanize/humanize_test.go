package humanize

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 4095: "4.0 KiB",
		512 << 20: "512 MiB", 8 << 30: "8 GiB", 3 << 29: "1.5 GiB", 1<<30 + 1: "1.0 GiB", 3 << 40: "3 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := MiB(1024); got != "1 GiB" {
		t.Errorf("MiB(1024) = %q, want 1 GiB", got)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{42 * time.Second: "42s", 187 * time.Second: "3m07s", 5*time.Hour + 12*time.Minute: "5h12m", 76 * time.Hour: "3d04h"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}
