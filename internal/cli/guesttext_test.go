package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/client"
)

// hostileArgv is what a guest process can set its command line to: an
// OSC 0 that retitles the terminal and an OSC 52 that writes the clipboard.
const hostileArgv = "python3 \x1b]0;pwned\x07 \x1b]52;c;cm0gLXJmIH4K\x07 -m http.server"

// fakeDaemon serves replies on a unix socket and returns an env whose
// client talks to it.
func fakeDaemon(t *testing.T, replies map[string]any) (*env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bangerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: api.CodeNotFound, Message: "no " + r.URL.Path}})
			return
		}
		if e, ok := reply.(api.Error); ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
			return
		}
		json.NewEncoder(w).Encode(reply)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	var out, errOut bytes.Buffer
	return &env{io: IO{Out: &out, ErrOut: &errOut}, c: client.New(sock)}, &out, &errOut
}

// noRawControls fails when s holds a control character other than a
// newline.
func noRawControls(t *testing.T, what, s string) {
	t.Helper()
	for _, c := range s {
		if c != '\n' && (c < 0x20 || c == 0x7f || c >= 0x80 && c <= 0x9f) {
			t.Errorf("%s holds the raw control character %U:\n%q", what, c, s)
			return
		}
	}
}

func TestPortsTableEscapesGuestText(t *testing.T) {
	e, out, _ := fakeDaemon(t, map[string]any{
		"GET /v1/vms/web/ports": api.PortsResponse{VM: "web", Ports: []api.Port{
			{VM: "web", Endpoint: "web.vm:8000", Proto: "tcp", Port: 8000, Process: "python3", PID: 845, Command: hostileArgv, URL: "http://web.vm:8000/"},
			{VM: "web", Endpoint: "web.vm:9000", Proto: "tcp\x1b[2J", Port: 9000, Process: "evil\x1b]0;x\x07", PID: 9},
		}},
		"GET /v1/vms/bad/ports": api.Error{Code: "unavailable", Message: "guest agent of vm bad: agent returned garbage: HTTP 500 with body \"\x1b]52;c;eA==\x07\""},
	})
	cmd := newVMPortsCmd(e)
	cmd.SetArgs([]string{"web", "bad"})
	cmd.SetOut(out)
	cmd.ExecuteContext(context.Background())
	got := out.String()
	noRawControls(t, "vm ports output", got)
	for _, want := range []string{
		`python3 \x1b]0;pwned\x07 \x1b]52;c;cm0gLXJmIH4K\x07 -m http.server (pid 845)`,
		`tcp\x1b[2J`, `evil\x1b]0;x\x07 (pid 9)`,
		`HTTP 500 with body "\x1b]52;c;eA==\x07"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("vm ports output lacks %q:\n%s", want, got)
		}
	}
}

func TestPortsJSONStaysExact(t *testing.T) {
	e, out, _ := fakeDaemon(t, map[string]any{
		"GET /v1/vms/web/ports": api.PortsResponse{VM: "web", Ports: []api.Port{
			{VM: "web", Endpoint: "web.vm:8000", Proto: "tcp", Port: 8000, Command: hostileArgv},
		}},
	})
	cmd := newVMPortsCmd(e)
	cmd.SetArgs([]string{"--json", "web"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var res []api.PortsResponse
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 1 || len(res[0].Ports) != 1 {
		t.Fatalf("decode %q: %v", out, err)
	}
	if got := res[0].Ports[0].Command; got != hostileArgv {
		t.Errorf("--json command = %q, want the guest's exact %q", got, hostileArgv)
	}
}

func TestShowStatsAndErrorsEscapeGuestText(t *testing.T) {
	e, out, errOut := fakeDaemon(t, map[string]any{
		"GET /v1/vms/web":       api.VM{ID: "0123456789ab", Name: "web", State: api.StateError, LastError: "guest did not answer ssh:\n--- last lines of console.log ---\n\x1b]0;pwned\x07login:"},
		"GET /v1/vms/web/stats": api.VMStats{VM: "web", State: api.StateRunning, GuestError: "agent stats: \x1b]52;c;eA==\x07", Guest: nil},
		"GET /v1/vms/web2/stats": api.VMStats{VM: "web2", State: api.StateRunning, Guest: &api.GuestStats{
			Disks: []api.FSUsage{{Mount: "/\x1b[31mroot", TotalBytes: 1, UsedBytes: 1}}}},
		"GET /v1/vms/gone": api.Error{Code: "unavailable", Message: "start failed:\n\x1b]0;console\x07 kernel panic", Hint: "see \x1b[2Jthe log"},
	})
	for _, args := range [][]string{{"show", "web"}, {"stats", "web"}, {"stats", "web2"}} {
		c := newVMStatsCmd(e)
		if args[0] == "show" {
			c = newVMShowCmd(e)
		}
		c.SetArgs(args[1:])
		if err := c.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	got := out.String()
	noRawControls(t, "vm show/stats output", got)
	for _, want := range []string{`\x1b]0;pwned\x07login:`, `\x1b]52;c;eA==\x07`, `guest /\x1b[31mroot:`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}

	// An error quoting the guest keeps its line breaks and loses its
	// control characters.
	c := newVMShowCmd(e)
	c.SetArgs([]string{"gone"})
	err := c.ExecuteContext(context.Background())
	printError(errOut, err)
	noRawControls(t, "error output", errOut.String())
	if want := "error: start failed:\n\\x1b]0;console\\x07 kernel panic\nhint: see \\x1b[2Jthe log\n"; errOut.String() != want {
		t.Errorf("error output %q, want %q", errOut.String(), want)
	}
}
