package daemon

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"banger/internal/api"
)

// readCounter counts what a reader consumed from a peer.
type readCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// hostile returns a connection whose peer discards what it is sent and
// answers with prefix followed by fill, repeated until the connection
// closes, and the counter of what the caller read from it.
func hostile(t *testing.T, prefix, fill string) (net.Conn, *readCounter) {
	t.Helper()
	c, s := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.Discard, s) }()
	go func() {
		defer wg.Done()
		if _, err := io.WriteString(s, prefix); err != nil {
			return
		}
		for {
			if _, err := io.WriteString(s, fill); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); s.Close(); wg.Wait() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, &readCounter{r: c}
}

type rw struct {
	io.Reader
	io.Writer
}

func TestProbesReadAFixedNumberOfBytes(t *testing.T) {
	endless := strings.Repeat("x", 4096)
	for _, tc := range []struct {
		name         string
		prefix, fill string
		probe        func(c net.Conn, r io.Reader) bool
		want         bool
		limit        int64
	}{
		{"http: endless status line", "HTTP/1.1 200 ", endless, func(c net.Conn, r io.Reader) bool { return answersHTTP(rw{r, c}, "a.vm:80") }, false, maxProbeLine},
		{"http: endless garbage", "", endless, func(c net.Conn, r io.Reader) bool { return answersHTTP(rw{r, c}, "a.vm:80") }, false, maxProbeLine},
		{"http: real answer", "HTTP/1.0 200 OK\r\n", "Server: x\r\n", func(c net.Conn, r io.Reader) bool { return answersHTTP(rw{r, c}, "a.vm:80") }, true, maxProbeLine},
		{"ssh: endless banner", "SSH-2.0-", endless, func(_ net.Conn, r io.Reader) bool { return sendsSSHBanner(r) }, false, maxSSHBannerLine},
		{"ssh: endless garbage", "", endless, func(_ net.Conn, r io.Reader) bool { return sendsSSHBanner(r) }, false, maxSSHBannerLine},
		{"ssh: real banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", endless, func(_ net.Conn, r io.Reader) bool { return sendsSSHBanner(r) }, true, maxSSHBannerLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, counter := hostile(t, tc.prefix, tc.fill)
			if got := tc.probe(c, counter); got != tc.want {
				t.Errorf("probe = %v, want %v", got, tc.want)
			}
			if n := counter.n.Load(); n > tc.limit {
				t.Errorf("read %d bytes from the peer, more than the cap of %d", n, tc.limit)
			}
		})
	}
}

func TestProbeAllIsBounded(t *testing.T) {
	var ports []api.Port
	for i := range 1000 {
		ports = append(ports, api.Port{Proto: "udp", Port: 20000 + i}, api.Port{Proto: "tcp", Port: 1 + i})
	}
	var mu sync.Mutex
	active, peak := 0, 0
	seen := map[int]bool{}
	full := make(chan struct{})
	var once sync.Once
	probeAll(context.Background(), ports, func(ctx context.Context, p *api.Port) {
		mu.Lock()
		active++
		peak = max(peak, active)
		if p.Proto != "tcp" || seen[p.Port] {
			t.Errorf("probed %s/%d (again?)", p.Proto, p.Port)
		}
		seen[p.Port] = true
		if active == probeWorkers {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		// The first probes wait until the pool is full, so the peak shows
		// how many run at once.
		select {
		case <-full:
		case <-ctx.Done():
		}
		mu.Lock()
		active--
		mu.Unlock()
	})
	if peak != probeWorkers {
		t.Errorf("%d probes ran at once, want %d", peak, probeWorkers)
	}
	if len(seen) != maxProbedPorts {
		t.Errorf("probed %d ports, want the first %d TCP ones", len(seen), maxProbedPorts)
	}
	for i := 1; i <= maxProbedPorts; i++ {
		if !seen[i] {
			t.Errorf("tcp/%d, one of the first %d, was not probed", i, maxProbedPorts)
		}
	}
}
