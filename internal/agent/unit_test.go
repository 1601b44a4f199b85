package agent

import (
	"strings"
	"testing"
)

// The image builder installs Unit verbatim; these are the settings the
// rest of banger relies on.
func TestUnit(t *testing.T) {
	sections := map[string]map[string]string{}
	var cur string
	for _, line := range strings.Split(Unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = line[1 : len(line)-1]
			sections[cur] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == "" {
				t.Fatalf("malformed unit line %q", line)
			}
			sections[cur][k] = v
		}
	}
	want := map[string]map[string]string{
		"Unit":    {"DefaultDependencies": "no", "Conflicts": "shutdown.target", "StartLimitIntervalSec": "0"},
		"Service": {"Type": "simple", "Restart": "always", "ExecStart": BinaryPath, "StartupCPUWeight": "1000"},
		"Install": {"WantedBy": "multi-user.target"},
	}
	for sec, kv := range want {
		for k, v := range kv {
			if got := sections[sec][k]; got != v {
				t.Errorf("[%s] %s = %q, want %q", sec, k, got, v)
			}
		}
	}
	if !strings.HasSuffix(UnitName, ".service") || !strings.HasPrefix(BinaryPath, "/") {
		t.Errorf("UnitName %q, BinaryPath %q", UnitName, BinaryPath)
	}
}
