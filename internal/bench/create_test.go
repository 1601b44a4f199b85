package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	// Fields 14 and 15 (utime 1234, stime 56); the name has a space and a ')'.
	line := "4242 (qemu sys) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0 500 1000 200\n"
	n, err := parseStatTicks(line)
	if err != nil || n != 1290 {
		t.Fatalf("parseStatTicks = %d, %v; want 1290", n, err)
	}
	for _, bad := range []string{"", "4242 qemu S 1", "4242 (qemu) S 1 2 3", "4242 (q) S 1 2 3 4 5 6 7 8 9 10 x 56"} {
		if _, err := parseStatTicks(bad); err == nil {
			t.Errorf("parseStatTicks(%q) accepted", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	n, err := parseVmRSS("VmRSS:\t   12345 kB\n")
	if err != nil || n != 12345*1024 {
		t.Fatalf("parseVmRSS = %d, %v", n, err)
	}
	for _, bad := range []string{"", "VmRSS: 12 MB", "VmSize: 12 kB", "VmRSS: -3 kB", "VmRSS: x kB", "VmRSS: 1 kB extra"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("parseVmRSS(%q) accepted", bad)
		}
	}
}

func TestResumedCold(t *testing.T) {
	if resumedCold([]byte(`{"name":"a","state":"running"}` + "\n")) {
		t.Error("a restored VM counted as a cold boot")
	}
	if !resumedCold([]byte(`{"name":"a","state":"running","last_error":"snapshot unusable: booted from disk"}` + "\n")) {
		t.Error("a cold-booted resume not noticed")
	}
}

func TestSnapshotBytes(t *testing.T) {
	dir := t.TempDir()
	if _, err := snapshotBytes(dir); err == nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Fatalf("no snapshot files: err = %v", err)
	}
	// A sparse file takes (almost) no blocks: the figure is disk use.
	f, err := os.Create(filepath.Join(dir, "snapshot.mem"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30)
	f.WriteAt(make([]byte, 1<<20), 0)
	f.Close()
	os.WriteFile(filepath.Join(dir, "snapshot.state"), make([]byte, 8192), 0o600)
	n, err := snapshotBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 || n > 64<<20 {
		t.Errorf("snapshotBytes = %d, want about 1 MiB of allocated blocks, not the 1 GiB apparent size", n)
	}
}

func TestSummarize(t *testing.T) {
	if s := summarize([]float64{3, 1, 2}); s.Min != 1 || s.Median != 2 {
		t.Errorf("odd: %+v", s)
	}
	if s := summarize([]float64{4, 1, 2, 3}); s.Min != 1 || s.Median != 2.5 {
		t.Errorf("even: %+v", s)
	}
}
