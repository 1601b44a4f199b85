package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/client/clienttest"
)

func fakeDaemon(t *testing.T, handler http.HandlerFunc) *client.Client {
	c, _ := clienttest.Serve(t, handler)
	return c
}

type request struct {
	method, path, rawQuery, accept string
	body                           string
}

// recorder answers every request with reply and records it.
func recorder(t *testing.T, reply any) (*client.Client, func() request) {
	var mu sync.Mutex
	var last request
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Accept"), string(b)}
		mu.Unlock()
		if r.Header.Get("Accept") == api.NDJSON {
			json.NewEncoder(w).Encode(api.Event{Type: api.EventResult, Result: &api.VM{Name: "web"}})
			return
		}
		json.NewEncoder(w).Encode(reply)
	})
	return c, func() request { mu.Lock(); defer mu.Unlock(); return last }
}

func TestEachMethodCallsItsEndpoint(t *testing.T) {
	c, last := recorder(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		call         func() error
		method, path string
		query, body  string
		streamed     bool
	}{
		{func() error { _, err := c.Status(ctx); return err }, "GET", "/v1/status", "", "", false},
		{func() error { return c.Shutdown(ctx) }, "POST", "/v1/shutdown", "", "", false},
		{func() error { _, err := c.ListVMs(ctx); return err }, "GET", "/v1/vms", "", "", false},
		{func() error { _, err := c.GetVM(ctx, "web"); return err }, "GET", "/v1/vms/web", "", "", false},
		// A ref is one path segment, whatever it holds.
		{func() error { _, err := c.GetVM(ctx, "../images/x"); return err }, "GET", "/v1/vms/..%2Fimages%2Fx", "", "", false},
		{func() error { _, err := c.CreateVM(ctx, api.CreateVMRequest{Name: "web"}, nil); return err }, "POST", "/v1/vms", "", `{"name":"web"}`, true},
		{func() error { _, err := c.StartVM(ctx, "web", nil); return err }, "POST", "/v1/vms/web/start", "", "", true},
		{func() error { _, err := c.StopVM(ctx, "web", api.StopRequest{TimeoutSeconds: 5}, nil); return err }, "POST", "/v1/vms/web/stop", "", `{"timeout_seconds":5}`, true},
		{func() error { _, err := c.RestartVM(ctx, "web", nil); return err }, "POST", "/v1/vms/web/restart", "", "", true},
		{func() error { _, err := c.KillVM(ctx, "web", api.KillRequest{Signal: "KILL"}); return err }, "POST", "/v1/vms/web/kill", "", `{"signal":"KILL"}`, false},
		{func() error { _, err := c.DeleteVM(ctx, "web", false); return err }, "DELETE", "/v1/vms/web", "", "", false},
		{func() error { _, err := c.DeleteVM(ctx, "web", true); return err }, "DELETE", "/v1/vms/web", "force=true", "", false},
		{func() error { on := true; _, err := c.SetVM(ctx, "web", api.SetVMRequest{NAT: &on}); return err }, "PATCH", "/v1/vms/web", "", `{"nat":true}`, false},
		{func() error { _, err := c.VMStats(ctx, "web"); return err }, "GET", "/v1/vms/web/stats", "", "", false},
		{func() error { _, err := c.VMPorts(ctx, "web"); return err }, "GET", "/v1/vms/web/ports", "", "", false},
		{func() error { _, err := c.VMHealth(ctx, "web"); return err }, "GET", "/v1/vms/web/health", "", "", false},
		{func() error { _, err := c.ListImages(ctx); return err }, "GET", "/v1/images", "", "", false},
		{func() error { _, err := c.GetImage(ctx, "default"); return err }, "GET", "/v1/images/default", "", "", false},
		{func() error {
			_, err := c.RegisterImage(ctx, api.RegisterImageRequest{Name: "x", Rootfs: "/r"})
			return err
		}, "POST", "/v1/images", "", `{"name":"x","rootfs":"/r"}`, false},
		{func() error { _, err := c.DeleteImage(ctx, "x"); return err }, "DELETE", "/v1/images/x", "", "", false},
	} {
		if err := tc.call(); err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		got := last()
		if got.method != tc.method || got.path != tc.path || got.rawQuery != tc.query || strings.TrimSpace(got.body) != tc.body {
			t.Errorf("sent %s %s?%s %q, want %s %s?%s %q", got.method, got.path, got.rawQuery, got.body, tc.method, tc.path, tc.query, tc.body)
		}
		if streamed := got.accept == api.NDJSON; streamed != tc.streamed {
			t.Errorf("%s %s: asked for a stream = %v, want %v", tc.method, tc.path, streamed, tc.streamed)
		}
	}
}

func TestErrorBodyBecomesAPIError(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: api.CodeConflict, Message: "vm web is running", Hint: "stop it first"}})
	})
	_, err := c.SetVM(context.Background(), "web", api.SetVMRequest{})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Body.Code != api.CodeConflict || ae.Body.Hint != "stop it first" {
		t.Fatalf("got %#v, want the conflict as an *APIError", err)
	}
	if msg, hint := client.ErrorParts(err); msg != "vm web is running" || hint != "stop it first" {
		t.Errorf("ErrorParts = %q, %q", msg, hint)
	}
}

func TestUnexpectedErrorReplyKeepsStatusAndText(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "proxy says no", http.StatusBadGateway)
	})
	_, err := c.ListVMs(context.Background())
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Body.Code != api.CodeInternal || !strings.Contains(ae.Body.Message, "proxy says no") {
		t.Fatalf("got %#v", err)
	}
}

func TestStreamDeliversProgressThenResult(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(api.Event{Type: api.EventProgress, VM: "web", Step: "boot", Message: "booting"})
		enc.Encode(api.Event{Type: api.EventProgress, VM: "web", Step: "ssh", Message: "waiting for ssh"})
		enc.Encode(api.Event{Type: api.EventResult, Result: &api.VM{Name: "web", State: api.StateRunning}})
	})
	var steps []string
	vm, err := c.StartVM(context.Background(), "web", func(ev api.Event) { steps = append(steps, ev.Step) })
	if err != nil || vm.State != api.StateRunning {
		t.Fatalf("StartVM = %+v, %v", vm, err)
	}
	if strings.Join(steps, ",") != "boot,ssh" {
		t.Errorf("progress = %v, want boot,ssh", steps)
	}
}

func TestStreamErrorEventBecomesAPIError(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(api.Event{Type: api.EventProgress, Message: "booting"})
		enc.Encode(api.Event{Type: api.EventError, Error: &api.Error{Code: api.CodeUnavailable, Message: "wait for ssh: timed out", Hint: "see the console log"}})
	})
	_, err := c.StartVM(context.Background(), "web", nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Message != "wait for ssh: timed out" || ae.Body.Hint != "see the console log" {
		t.Fatalf("got %#v", err)
	}
}

func TestStreamCutShortIsAnError(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.Event{Type: api.EventProgress, Message: "booting"})
	})
	if _, err := c.StartVM(context.Background(), "web", nil); err == nil || !strings.Contains(err.Error(), "closed the stream") {
		t.Fatalf("got %v, want an error about the closed stream", err)
	}
}

func TestEventsDeliversEachEvent(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" {
			http.NotFound(w, r)
			return
		}
		enc := json.NewEncoder(w)
		enc.Encode(api.Event{Type: api.EventStarted, VM: "web"})
		enc.Encode(api.Event{Type: api.EventStopped, VM: "db", Message: "vmm exited"})
	})
	var got []string
	if err := c.Events(context.Background(), func(ev api.Event) { got = append(got, ev.Type+" "+ev.VM) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "started web,stopped db" {
		t.Errorf("events = %v", got)
	}
}

func TestNothingListeningIsUnreachable(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "absent.sock"))
	_, err := c.ListVMs(context.Background())
	if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "absent.sock") {
		t.Fatalf("got %v, want ErrUnreachable naming the socket", err)
	}
	if msg, hint := client.ErrorParts(err); msg != err.Error() || hint != "" {
		t.Errorf("ErrorParts of a plain error = %q, %q", msg, hint)
	}
}
