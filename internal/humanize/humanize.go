// Package humanize formats sizes and durations for people: the one format
// of every size banger shows, in the CLI, the TUI and the daemon's error
// messages.
package humanize

import (
	"fmt"
	"time"
)

// Bytes formats n with binary units: 512 B, 8 GiB, 1.5 GiB. A whole number
// of a unit has no decimals, so it reads back through the CLI's size
// flags (--disk-size 8 GiB, --memory 1 GiB); other values keep one.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// MiB formats a size given in MiB (memory), like Bytes.
func MiB(n int) string { return Bytes(int64(n) << 20) }

// Duration formats an age or uptime compactly: 42s, 3m07s, 5h12m, 3d04h.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
