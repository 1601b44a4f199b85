package agent

import (
	"os"
	"path/filepath"
	"testing"

	"banger/internal/agent/agentproto"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const sampleMeminfo = `MemTotal:        1004532 kB
MemFree:          612340 kB
MemAvailable:     801220 kB
Buffers:           14520 kB
Cached:           190332 kB
SwapTotal:             0 kB
HugePages_Total:       0
`

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo([]byte(sampleMeminfo))
	if err != nil {
		t.Fatal(err)
	}
	if m != (agentproto.Memory{TotalBytes: 1004532 * 1024, AvailableBytes: 801220 * 1024}) {
		t.Fatalf("got %+v", m)
	}
	for _, bad := range []string{"", "MemTotal: 10 kB\n", "MemTotal: x kB\nMemAvailable: 1 kB\n", "MemTotal:\nMemAvailable: 1 kB\n"} {
		if _, err := parseMeminfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseLoadavgAndUptime(t *testing.T) {
	l, err := parseLoadavg([]byte("0.36 0.15 0.06 6/118 8917\n"))
	if err != nil || l != (agentproto.Load{One: 0.36, Five: 0.15, Fifteen: 0.06}) {
		t.Fatalf("got %+v, %v", l, err)
	}
	for _, bad := range []string{"", "0.1 0.2", "a b c 1/2 3"} {
		if _, err := parseLoadavg([]byte(bad)); err == nil {
			t.Errorf("loadavg %q: no error", bad)
		}
	}
	up, err := parseUptime([]byte("343.50 615.47\n"))
	if err != nil || up != 343.5 {
		t.Fatalf("got %v, %v", up, err)
	}
	for _, bad := range []string{"", "x 1"} {
		if _, err := parseUptime([]byte(bad)); err == nil {
			t.Errorf("uptime %q: no error", bad)
		}
	}
}

func TestDiskUsage(t *testing.T) {
	d := diskUsage(t.TempDir())
	if d.Error != "" || d.TotalBytes == 0 || d.AvailableBytes > d.TotalBytes || d.FreeBytes > d.TotalBytes {
		t.Fatalf("got %+v", d)
	}
	d = diskUsage("/nonexistent/banger")
	if d.Error == "" || d.TotalBytes != 0 {
		t.Fatalf("missing path: got %+v", d)
	}
}
