package vmm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogHint(t *testing.T) {
	log := filepath.Join(t.TempDir(), "qemu.1.log")
	if got := LogHint(log); got != " (log: "+log+")" {
		t.Errorf("missing log: %q", got)
	}
	os.WriteFile(log, []byte("qemu-system-x86_64: -netdev tap: could not open /dev/net/tun\n"), 0o600)
	got := LogHint(log)
	if !strings.HasPrefix(got, " (log "+log+" ends: ") || !strings.Contains(got, "could not open /dev/net/tun") {
		t.Errorf("LogHint = %q", got)
	}
}
