package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"banger/internal/api"
)

// Limits on probing a guest's ports, which the guest chooses: how many TCP
// ports are probed for HTTP at all, how many at once, how long each and all
// of them may take, and how much of an answer is read.
const (
	maxProbedPorts   = 64
	probeWorkers     = 8
	probeTimeout     = 1200 * time.Millisecond
	probeBudget      = 5 * time.Second
	maxProbeLine     = 256
	maxSSHBannerLine = 255 // RFC 4253 4.2: the identification line, CR LF included
)

// probeURLs sets URL on the TCP ports of the guest at ip that answer HTTP,
// probing the first maxProbedPorts of them with a bounded worker pool.
func probeURLs(ctx context.Context, ip string, ports []api.Port) {
	probeAll(ctx, ports, func(ctx context.Context, p *api.Port) {
		if probeHTTP(ctx, net.JoinHostPort(ip, strconv.Itoa(p.Port)), p.Endpoint) {
			p.URL = "http://" + p.Endpoint + "/"
		}
	})
}

// probeAll runs probe on the first maxProbedPorts TCP ports, at most
// probeWorkers at a time, within probeBudget.
func probeAll(ctx context.Context, ports []api.Port, probe func(context.Context, *api.Port)) {
	ctx, cancel := context.WithTimeout(ctx, probeBudget)
	defer cancel()
	jobs := make(chan *api.Port)
	var wg sync.WaitGroup
	for range probeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				probe(ctx, p)
			}
		}()
	}
	queued := 0
	for i := range ports {
		if ports[i].Proto != "tcp" {
			continue
		}
		if queued == maxProbedPorts || ctx.Err() != nil {
			break
		}
		select {
		case jobs <- &ports[i]:
			queued++
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// probeHTTP reports whether addr answers a HEAD request with an HTTP status
// line. It never takes more than probeTimeout.
func probeHTTP(ctx context.Context, addr, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	return answersHTTP(c, host)
}

// answersHTTP sends a HEAD request on c and reads at most maxProbeLine
// bytes of the answer's status line.
func answersHTTP(c io.ReadWriter, host string) bool {
	if _, err := fmt.Fprintf(c, "HEAD / HTTP/1.0\r\nHost: %s\r\nUser-Agent: banger-ports-probe\r\n\r\n", host); err != nil {
		return false
	}
	line, err := readLine(c, maxProbeLine)
	return err == nil && strings.HasPrefix(line, "HTTP/")
}

// errLongLine is a line that did not end within its cap.
var errLongLine = errors.New("line longer than its cap")

// readLine reads one '\n'-terminated line from r, consuming at most max
// bytes of it whatever the peer sends.
func readLine(r io.Reader, max int) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(max)), 16)
	line, err := br.ReadString('\n')
	if errors.Is(err, io.EOF) && len(line) == max {
		return "", errLongLine
	}
	return line, err
}
