package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/agent/agentproto"
	"banger/internal/execx"
)

// fakeRunner answers commands from a script and records what ran.
type fakeRunner struct {
	mu     sync.Mutex
	script map[string]func(ctx context.Context) ([]byte, error)
	calls  chan []string
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{script: map[string]func(context.Context) ([]byte, error){}, calls: make(chan []string, 16)}
}

func (f *fakeRunner) on(argv []string, fn func(ctx context.Context) ([]byte, error)) {
	f.mu.Lock()
	f.script[strings.Join(argv, " ")] = fn
	f.mu.Unlock()
}

func (f *fakeRunner) run(ctx context.Context, argv ...string) ([]byte, error) {
	f.calls <- argv
	f.mu.Lock()
	fn := f.script[strings.Join(argv, " ")]
	f.mu.Unlock()
	if fn == nil {
		return execx.Run(ctx, "banger-test-no-such-tool") // an honest "not installed"
	}
	return fn(ctx)
}

func fakeProc(t *testing.T) string {
	proc := t.TempDir()
	writeFile(t, proc+"/uptime", "1234.56 2000.00\n")
	writeFile(t, proc+"/loadavg", "0.50 0.25 0.10 2/90 456\n")
	writeFile(t, proc+"/meminfo", sampleMeminfo)
	writeFile(t, proc+"/sys/kernel/random/boot_id", "6bc6c7e3-5cfa-4b73-91f6-335fa621a88c\n")
	writeFile(t, proc+"/520/cmdline", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\x00")
	writeFile(t, proc+"/2210/cmdline", "node\x00/root/app/node_modules/.bin/vite\x00--host\x00")
	return proc
}

// testToken is the VM token the test servers expect.
const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testServer(t *testing.T) (*Server, *fakeRunner) {
	fr := newFakeRunner()
	s := NewServer(Options{
		Version:       "1.2.3",
		Token:         testToken,
		Run:           fr.run,
		ProcRoot:      fakeProc(t),
		DiskPaths:     []string{t.TempDir(), "/nonexistent/banger"},
		ShutdownDelay: time.Millisecond,
	})
	return s, fr
}

func do(t *testing.T, s *Server, method, path, body string) (*httptest.ResponseRecorder, agentproto.Error) {
	t.Helper()
	return doAuth(t, s, method, path, body, "Bearer "+testToken)
}

// doAuth sends a request with the given Authorization header ("" for none).
func doAuth(t *testing.T, s *Server, method, path, body, auth string) (*httptest.ResponseRecorder, agentproto.Error) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var er agentproto.ErrorResponse
	if rec.Code >= 400 {
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
			t.Fatalf("%s %s: error body %q is not JSON: %v", method, path, rec.Body, err)
		}
	}
	return rec, er.Error
}

func TestHealth(t *testing.T) {
	s, _ := testServer(t)
	rec, _ := do(t, s, "GET", "/v1/health", "")
	var h agentproto.Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != 200 {
		t.Fatalf("%d %q: %v", rec.Code, rec.Body, err)
	}
	host, _ := os.Hostname()
	want := agentproto.Health{Version: "1.2.3", UptimeSeconds: 1234.56, Hostname: host, BootID: "6bc6c7e3-5cfa-4b73-91f6-335fa621a88c"}
	if h != want {
		t.Fatalf("got %+v, want %+v", h, want)
	}
}

func TestStats(t *testing.T) {
	s, _ := testServer(t)
	rec, _ := do(t, s, "GET", "/v1/stats", "")
	var st agentproto.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("%d %q: %v", rec.Code, rec.Body, err)
	}
	if st.UptimeSeconds != 1234.56 || st.Load.One != 0.5 || st.Memory.TotalBytes != 1004532*1024 || st.CPUs < 1 {
		t.Fatalf("got %+v", st)
	}
	if len(st.Disks) != 2 || st.Disks[0].TotalBytes == 0 || st.Disks[1].Error == "" {
		t.Fatalf("disks %+v", st.Disks)
	}
}

func TestStatsBrokenProc(t *testing.T) {
	s := NewServer(Options{ProcRoot: t.TempDir(), Token: testToken})
	rec, e := do(t, s, "GET", "/v1/stats", "")
	if rec.Code != 500 || e.Code != agentproto.CodeInternal || !strings.Contains(e.Message, "uptime") {
		t.Fatalf("got %d %+v", rec.Code, e)
	}
}

func TestPorts(t *testing.T) {
	s, fr := testServer(t)
	fr.on(ssArgv, func(context.Context) ([]byte, error) {
		return []byte(`tcp   LISTEN 0      128           0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=520,fd=3))
tcp   LISTEN 0      511                 *:5173            *:*    users:(("node",pid=2210,fd=24))
tcp   LISTEN 0      511                 *:9999            *:*    users:(("gone",pid=31337,fd=24))
`), nil
	})
	rec, _ := do(t, s, "GET", "/v1/ports", "")
	var r agentproto.PortsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 {
		t.Fatalf("%d %q: %v", rec.Code, rec.Body, err)
	}
	want := []agentproto.ListeningPort{
		{Proto: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 520, Command: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"},
		{Proto: "tcp", Address: "*", Port: 5173, Process: "node", PID: 2210, Command: "node /root/app/node_modules/.bin/vite --host"},
		{Proto: "tcp", Address: "*", Port: 9999, Process: "gone", PID: 31337},
	}
	if !slices.Equal(r.Ports, want) {
		t.Fatalf("got  %+v\nwant %+v", r.Ports, want)
	}
	if argv := <-fr.calls; !slices.Equal(argv, ssArgv) {
		t.Fatalf("ran %q", argv)
	}
}

func TestPortsWithoutSS(t *testing.T) {
	s, _ := testServer(t) // nothing scripted: ss is "not installed"
	rec, e := do(t, s, "GET", "/v1/ports", "")
	if rec.Code != http.StatusNotImplemented || e.Code != agentproto.CodeSSMissing {
		t.Fatalf("got %d %+v", rec.Code, e)
	}
}

func TestPortsSSFails(t *testing.T) {
	s, fr := testServer(t)
	fr.on(ssArgv, func(ctx context.Context) ([]byte, error) {
		return execx.Run(ctx, "sh", "-c", "echo 'Cannot open netlink socket' >&2; exit 1")
	})
	rec, e := do(t, s, "GET", "/v1/ports", "")
	if rec.Code != 500 || e.Code != agentproto.CodeInternal || !strings.Contains(e.Message, "netlink") {
		t.Fatalf("got %d %+v", rec.Code, e)
	}
}

func TestShutdown(t *testing.T) {
	for _, init := range []string{"systemd", "runit"} {
		for _, action := range []string{"reboot", "poweroff"} {
			s, fr := testServer(t)
			s.opts.SystemdDir = filepath.Join(t.TempDir(), "systemd", "system")
			want := []string{action}
			if init == "systemd" {
				if err := os.MkdirAll(s.opts.SystemdDir, 0o755); err != nil {
					t.Fatal(err)
				}
				want = []string{"systemctl", action}
			}
			fr.on(want, func(context.Context) ([]byte, error) { return nil, nil })
			rec, _ := do(t, s, "POST", "/v1/shutdown", `{"action":"`+action+`"}`)
			var r agentproto.ShutdownResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != http.StatusAccepted || r.Action != action {
				t.Fatalf("%s %s: %d %q", init, action, rec.Code, rec.Body)
			}
			select {
			case argv := <-fr.calls:
				if !slices.Equal(argv, want) {
					t.Fatalf("%s %s: ran %q, want %q", init, action, argv, want)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s %s: %q never ran", init, action, want)
			}
		}
	}
}

func TestShutdownRejectsBadRequests(t *testing.T) {
	s, fr := testServer(t)
	for _, body := range []string{``, `{`, `{"action":"halt"}`, `{"action":"reboot","force":true}`, `{"action":""}`} {
		rec, e := do(t, s, "POST", "/v1/shutdown", body)
		if rec.Code != 400 || e.Code != agentproto.CodeBadRequest {
			t.Errorf("%q: got %d %+v", body, rec.Code, e)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if len(fr.calls) != 0 {
		t.Fatalf("a rejected request ran %q", <-fr.calls)
	}
}

func TestRouting(t *testing.T) {
	s, _ := testServer(t)
	rec, e := do(t, s, "GET", "/v1/nope", "")
	if rec.Code != 404 || e.Code != agentproto.CodeNotFound {
		t.Errorf("unknown path: %d %+v", rec.Code, e)
	}
	rec, e = do(t, s, "GET", "/v1/shutdown", "")
	if rec.Code != 405 || e.Code != agentproto.CodeMethod || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET shutdown: %d %+v", rec.Code, e)
	}
	rec, _ = do(t, s, "POST", "/v1/health", "")
	if rec.Code != 405 {
		t.Errorf("POST health: %d", rec.Code)
	}
}

func TestEveryRequestNeedsTheToken(t *testing.T) {
	s, fr := testServer(t)
	for _, auth := range []string{
		"",
		"Bearer ",
		"Bearer " + testToken[:63],
		"Bearer " + testToken + "0",
		"Bearer " + strings.ToUpper(testToken),
		"bearer " + testToken,
		"Basic " + testToken,
		testToken,
	} {
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/health"}, {"GET", "/v1/ports"}, {"GET", "/v1/stats"},
			{"POST", "/v1/shutdown"}, {"GET", "/nope"}, {"DELETE", "/v1/health"},
		} {
			rec, e := doAuth(t, s, r.method, r.path, `{"action":"reboot"}`, auth)
			if rec.Code != 401 || e.Code != agentproto.CodeUnauthorized || rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s %s with Authorization %q: %d %+v, want 401 unauthorized", r.method, r.path, auth, rec.Code, e)
			}
			if strings.Contains(rec.Body.String(), testToken[:16]) {
				t.Errorf("the answer quotes the token: %q", rec.Body)
			}
		}
	}
	if n := len(fr.calls); n != 0 {
		t.Errorf("refused requests ran %d commands, first %v", n, <-fr.calls)
	}
	if rec, _ := do(t, s, "GET", "/v1/health", ""); rec.Code != 200 {
		t.Errorf("right token: %d %q", rec.Code, rec.Body)
	}
}

func TestNoTokenRefusesEverything(t *testing.T) {
	s := NewServer(Options{ProcRoot: t.TempDir()})
	for _, auth := range []string{"", "Bearer ", "Bearer " + testToken} {
		rec, e := doAuth(t, s, "GET", "/v1/health", "", auth)
		if rec.Code != 401 || !strings.Contains(e.Message, agentproto.TokenPath) {
			t.Errorf("token-less agent with %q: %d %+v", auth, rec.Code, e)
		}
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFile(t, good, testToken+"\n")
	if tok, err := LoadToken(good); err != nil || tok != testToken {
		t.Fatalf("LoadToken = %q, %v", tok, err)
	}
	short := filepath.Join(dir, "short")
	writeFile(t, short, "abc\n")
	if _, err := LoadToken(short); err == nil || !strings.Contains(err.Error(), short) {
		t.Fatalf("short token: %v", err)
	}
	if _, err := LoadToken(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing token file accepted")
	}
}
