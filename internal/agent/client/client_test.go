package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/agent/agentproto"
	"banger/internal/execx"
)

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, errors.New("pipe listener closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// fakeProc is a procfs with just what the agent reads.
func fakeProc(t *testing.T) string {
	proc := t.TempDir()
	for name, content := range map[string]string{
		"uptime":                    "42.00 80.00\n",
		"loadavg":                   "0.10 0.20 0.30 1/50 99\n",
		"meminfo":                   "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n",
		"sys/kernel/random/boot_id": "0f0e0d0c-0000-4000-8000-000000000001\n",
		"520/cmdline":               "/usr/sbin/sshd\x00-D\x00",
	} {
		os.MkdirAll(proc+"/"+name[:strings.LastIndex("/"+name, "/")], 0o755)
		if err := os.WriteFile(proc+"/"+name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

// startAgent serves a real agent.Server on ln until the test ends.
func startAgent(t *testing.T, ln net.Listener, run agent.Runner) {
	t.Helper()
	// SystemdDir exists: the agent behaves as on a systemd guest, whatever
	// the host runs.
	srv := agent.NewServer(agent.Options{Version: "test", Token: testToken, Run: run, ProcRoot: fakeProc(t), DiskPaths: []string{t.TempDir()},
		SystemdDir: t.TempDir(), ShutdownDelay: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
}

const testToken = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

const ssSample = `tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=520,fd=3))
udp UNCONN 0 0 127.0.0.54:53 0.0.0.0:* users:(("systemd-resolve",pid=312,fd=20))
`

// scriptedRunner answers ss and systemctl like a guest would.
type scriptedRunner struct {
	mu       sync.Mutex
	ss       func(ctx context.Context) ([]byte, error)
	shutdown chan string
}

func (r *scriptedRunner) run(ctx context.Context, argv ...string) ([]byte, error) {
	switch argv[0] {
	case "ss":
		r.mu.Lock()
		ss := r.ss
		r.mu.Unlock()
		return ss(ctx)
	case "systemctl":
		r.shutdown <- argv[1]
		return nil, nil
	}
	return nil, errors.New("unexpected command " + argv[0])
}

func newScriptedRunner() *scriptedRunner {
	return &scriptedRunner{
		ss:       func(context.Context) ([]byte, error) { return []byte(ssSample), nil },
		shutdown: make(chan string, 4),
	}
}

// exerciseAll runs every call against a real agent reached through c.
func exerciseAll(t *testing.T, c *Client, r *scriptedRunner) {
	t.Helper()
	ctx := context.Background()
	h, err := c.Health(ctx)
	if err != nil || h.Version != "test" || h.UptimeSeconds != 42 || h.BootID != "0f0e0d0c-0000-4000-8000-000000000001" {
		t.Fatalf("Health: %+v, %v", h, err)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Memory.TotalBytes != 2048*1024 || st.Load.Fifteen != 0.3 || len(st.Disks) != 1 {
		t.Fatalf("Stats: %+v, %v", st, err)
	}
	ports, err := c.Ports(ctx)
	want := []agentproto.ListeningPort{
		{Proto: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 520, Command: "/usr/sbin/sshd -D"},
		{Proto: "udp", Address: "127.0.0.54", Port: 53, Process: "systemd-resolve", PID: 312},
	}
	if err != nil || len(ports) != 2 || ports[0] != want[0] || ports[1] != want[1] {
		t.Fatalf("Ports: %+v, %v", ports, err)
	}
	if err := c.Shutdown(ctx, agentproto.ActionReboot); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case a := <-r.shutdown:
		if a != "reboot" {
			t.Fatalf("systemctl %s", a)
		}
	case <-time.After(time.Minute):
		t.Fatal("shutdown never ran")
	}
	var apiErr *APIError
	if err := c.Shutdown(ctx, "halt"); !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != agentproto.CodeBadRequest {
		t.Fatalf("Shutdown(halt): %v", err)
	}
}

func TestClientAgainstRealServerOverPipe(t *testing.T) {
	ln := newPipeListener()
	r := newScriptedRunner()
	startAgent(t, ln, r.run)
	exerciseAll(t, New(ln.dial, testToken), r)
}

func TestClientSSMissing(t *testing.T) {
	ln := newPipeListener()
	r := newScriptedRunner()
	r.ss = func(ctx context.Context) ([]byte, error) {
		// Exactly what execx returns when the binary is not on PATH.
		return execx.Run(ctx, "banger-test-no-such-tool")
	}
	startAgent(t, ln, r.run)
	_, err := New(ln.dial, testToken).Ports(context.Background())
	if !errors.Is(err, ErrSSMissing) {
		t.Fatalf("got %v, want ErrSSMissing", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotImplemented {
		t.Fatalf("got %#v", err)
	}
}

// within runs call and fails the test if it has not returned within a
// minute, far beyond every timeout in play here: the call hangs.
func within(t *testing.T, call func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(time.Minute):
		t.Fatal("call still waiting after a minute")
		return nil
	}
}

// portsWithin is c.Ports(ctx) under within.
func portsWithin(t *testing.T, ctx context.Context, c *Client) error {
	t.Helper()
	return within(t, func() error { _, err := c.Ports(ctx); return err })
}

func TestClientSlowAgentTimesOutPromptly(t *testing.T) {
	ln := newPipeListener()
	r := newScriptedRunner()
	r.ss = func(ctx context.Context) ([]byte, error) {
		<-ctx.Done() // ss hangs
		return nil, ctx.Err()
	}
	startAgent(t, ln, r.run)
	c := New(ln.dial, testToken)
	c.Timeout = 300 * time.Millisecond
	if err := portsWithin(t, context.Background(), c); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	// The caller's own deadline wins when it is shorter: with the client's
	// at an hour, only the caller's can end the call.
	c.Timeout = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := portsWithin(t, ctx, c); !errors.Is(err, ErrTimeout) {
		t.Fatalf("caller deadline: got %v, want ErrTimeout", err)
	}
}

// fakeAgent is something else answering on the agent's port.
func fakeAgent(t *testing.T, answer func(c net.Conn)) func(ctx context.Context) (net.Conn, error) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return func(ctx context.Context) (net.Conn, error) {
		c, s := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			s.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := http.ReadRequest(bufio.NewReader(s)); err != nil {
				return
			}
			answer(s)
		}()
		return c, nil
	}
}

func TestClientClassifiesFailures(t *testing.T) {
	cases := []struct {
		name   string
		dial   func(t *testing.T) func(ctx context.Context) (net.Conn, error)
		want   error
		detail string
	}{
		{"dial fails", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return func(context.Context) (net.Conn, error) { return nil, errors.New("connect: no such file") }
		}, ErrUnreachable, "no such file"},
		{"closed without answer", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) {})
		}, ErrUnreachable, "closed before an answer"},
		{"binary garbage", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) { c.Write([]byte("\x00\xff\x13garbage\r\n\r\n")) })
		}, ErrGarbage, "malformed HTTP"},
		{"not JSON", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<html>hi<")
			})
		}, ErrGarbage, "decode answer"},
		{"foreign error page", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n")
			})
		}, ErrGarbage, "HTTP 404"},
		{"empty JSON object", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
			})
		}, ErrGarbage, "no version"},
		{"truncated body", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"version\":")
			})
		}, ErrGarbage, "unexpected EOF"},
		{"never answers", func(t *testing.T) func(context.Context) (net.Conn, error) {
			return fakeAgent(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		}, ErrTimeout, "did not answer in time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.dial(t), testToken)
			// A bad answer is recognised as it arrives: only the agent
			// that never answers may run into the client's timeout.
			c.Timeout = time.Hour
			if tc.want == ErrTimeout {
				c.Timeout = 300 * time.Millisecond
			}
			err := within(t, func() error { _, err := c.Health(context.Background()); return err })
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.detail) || !strings.HasPrefix(err.Error(), "agent health: ") {
				t.Fatalf("error %q lacks %q or the call name", err, tc.detail)
			}
		})
	}
}

func TestClientPresentsTheToken(t *testing.T) {
	ln := newPipeListener()
	r := newScriptedRunner()
	startAgent(t, ln, r.run)
	for _, tok := range []string{"", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefe"} {
		_, err := New(ln.dial, tok).Health(context.Background())
		var apiErr *APIError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Errorf("token %q: got %v, want ErrUnauthorized", tok, err)
		}
		if err := New(ln.dial, tok).Shutdown(context.Background(), agentproto.ActionReboot); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("shutdown with token %q: got %v, want ErrUnauthorized", tok, err)
		}
	}
	select {
	case a := <-r.shutdown:
		t.Fatalf("a refused shutdown ran systemctl %s", a)
	default:
	}
	if _, err := New(ln.dial, testToken).Health(context.Background()); err != nil {
		t.Fatalf("right token: %v", err)
	}
}

// countingConn counts the bytes the client read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// hostilePeer answers every request with head and then stream, written
// until the client hangs up; read counts what the client consumed.
func hostilePeer(t *testing.T, head string, stream []byte) (dial func(context.Context) (net.Conn, error), read *atomic.Int64) {
	read = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return func(ctx context.Context) (net.Conn, error) {
		c, s := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			s.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := http.ReadRequest(bufio.NewReader(s)); err != nil {
				return
			}
			if _, err := io.WriteString(s, head); err != nil {
				return
			}
			for {
				if _, err := s.Write(stream); err != nil {
					return
				}
			}
		}()
		return countingConn{c, read}, nil
	}, read
}

func TestClientCapsWhatAHostileAgentSends(t *testing.T) {
	header := []byte("X-Pad: " + strings.Repeat("a", 1000) + "\r\n")
	chunk := []byte("400\r\n" + strings.Repeat("b", 0x400) + "\r\n")
	cases := []struct {
		name   string
		head   string
		stream []byte
		limit  int64
		detail string
	}{
		{"endless headers", "HTTP/1.1 200 OK\r\n", header, MaxHeaderBytes, "headers larger than"},
		{"one endless header line", "HTTP/1.1 200 OK\r\nX-Pad: ", []byte(strings.Repeat("a", 4096)), MaxHeaderBytes, "headers larger than"},
		{"endless status line", "HTTP/1.1 200 ", []byte(strings.Repeat("O", 4096)), MaxHeaderBytes, "headers larger than"},
		{"endless body", "HTTP/1.1 200 OK\r\n\r\n", []byte(strings.Repeat("{", 4096)), MaxHeaderBytes + MaxAnswerBytes, "answer larger than"},
		{"endless chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, MaxHeaderBytes + MaxAnswerBytes + MaxHeaderBytes, "answer larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dial, read := hostilePeer(t, tc.head, tc.stream)
			c := New(dial, testToken)
			c.Timeout = 5 * time.Second
			_, err := c.Health(context.Background())
			if !errors.Is(err, ErrGarbage) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("got %v, want ErrGarbage saying %q", err, tc.detail)
			}
			if n := read.Load(); n > tc.limit {
				t.Errorf("the client read %d bytes from the peer, more than the cap of %d", n, tc.limit)
			} else {
				t.Logf("the client read %d bytes (cap %d)", n, tc.limit)
			}
		})
	}
}
