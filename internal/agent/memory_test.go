package agent_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"banger/internal/agent"
	"banger/internal/agent/client"
)

func rssKB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

// BenchmarkAgentMemory runs the real server in-process and serves health
// and stats calls through the real client (one connection per call), then reports the live heap and
// the process RSS (the RSS includes the benchmark binary itself; the
// standalone agent's figures are measured by the cmd test).
//
//	go test -run '^$' -bench AgentMemory -benchtime 2000x ./internal/agent/
func BenchmarkAgentMemory(b *testing.B) {
	proc := b.TempDir()
	for name, content := range map[string]string{
		"uptime": "1.0 1.0\n", "loadavg": "0 0 0 1/1 1\n",
		"meminfo": "MemTotal: 1 kB\nMemAvailable: 1 kB\n", "sys/kernel/random/boot_id": "x\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755)
		os.WriteFile(filepath.Join(proc, name), []byte(content), 0o644)
	}
	const token = "0123456789abcdef0123456789abcdef"
	srv := agent.NewServer(agent.Options{Version: "bench", Token: token, ProcRoot: proc, DiskPaths: []string{b.TempDir()}})
	// A unix socket rather than net.Pipe: like vsock, its deadlines live in
	// the runtime poller, so the figures are not skewed by pipe timers.
	sock := filepath.Join(b.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); ln.Close(); <-done }()

	c := client.New(func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}, token)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Health(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/1024, "heap-inuse-KiB")
	b.ReportMetric(float64(ms.Sys)/1024, "go-sys-KiB")
	b.ReportMetric(rssKB(), "rss-KiB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}
