package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/client/clienttest"
	"banger/internal/daemon/apierr"
	"banger/internal/daemon/server"
)

// fakeService implements the lifecycle calls these tests make; any other
// call panics through the nil embedded interface.
type fakeService struct {
	server.Service
	startErr error
	events   []api.Event
	gotSet   api.SetVMRequest
}

func (f *fakeService) StartVM(_ context.Context, ref string, p api.Progress) (api.VM, error) {
	p.Report(api.Event{Type: api.EventProgress, VM: ref, Step: "boot", Message: "booting"})
	p.Report(api.Event{Type: api.EventProgress, VM: ref, Step: "ssh", Message: "waiting for ssh"})
	if f.startErr != nil {
		return api.VM{}, f.startErr
	}
	return api.VM{Name: ref, State: api.StateRunning}, nil
}

func (f *fakeService) SetVM(_ context.Context, ref string, req api.SetVMRequest) (api.VM, error) {
	f.gotSet = req
	return api.VM{}, apierr.Conflict("stop it first with `banger vm stop "+ref+"`", "vm %s is running", ref)
}

func (f *fakeService) GetVM(_ context.Context, ref string) (api.VM, error) {
	return api.VM{}, fmt.Errorf("vm %q: %w", ref, errors.New("disk on fire"))
}

func (f *fakeService) Subscribe(ctx context.Context) <-chan api.Event {
	c := make(chan api.Event, len(f.events))
	for _, ev := range f.events {
		c <- ev
	}
	close(c)
	return c
}

// serve runs the API for s on a unix socket; it returns the typed client
// and a plain HTTP client for raw requests.
func serve(t *testing.T, s server.Service) (*client.Client, *http.Client) {
	t.Helper()
	c, sock := clienttest.Serve(t, server.New(s, slog.New(slog.NewTextHandler(io.Discard, nil))))
	raw := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	return c, raw
}

func TestStreamedStartReportsProgressThenResult(t *testing.T) {
	c, _ := serve(t, &fakeService{})
	var steps []string
	vm, err := c.StartVM(context.Background(), "web", func(ev api.Event) {
		if ev.Type != api.EventProgress || ev.Time.IsZero() {
			t.Errorf("progress event %+v: want type progress and a time", ev)
		}
		steps = append(steps, ev.Step)
	})
	if err != nil || vm.Name != "web" || vm.State != api.StateRunning {
		t.Fatalf("StartVM = %+v, %v", vm, err)
	}
	if strings.Join(steps, ",") != "boot,ssh" {
		t.Errorf("steps = %v", steps)
	}
}

func TestStreamedFailureCarriesCodeAndHint(t *testing.T) {
	c, _ := serve(t, &fakeService{startErr: apierr.Unavailable("see the console log", "wait for ssh on web: timed out")})
	_, err := c.StartVM(context.Background(), "web", nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Code != api.CodeUnavailable || ae.Body.Message != "wait for ssh on web: timed out" || ae.Body.Hint != "see the console log" {
		t.Fatalf("got %#v", err)
	}
}

func TestPlainStartGetsOneJSONReply(t *testing.T) {
	_, raw := serve(t, &fakeService{startErr: apierr.Invalid("bad kernel")})
	resp, err := raw.Post("http://bangerd/v1/vms/web/start", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != http.StatusBadRequest || eb.Error.Code != api.CodeInvalid {
		t.Fatalf("status %d body %+v (%v), want 400 invalid", resp.StatusCode, eb, err)
	}
}

func TestErrorsMapToStatusAndCode(t *testing.T) {
	f := &fakeService{}
	c, raw := serve(t, f)
	on := true
	_, err := c.SetVM(context.Background(), "web", api.SetVMRequest{NAT: &on})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Body.Code != api.CodeConflict || !strings.Contains(ae.Body.Hint, "banger vm stop web") {
		t.Fatalf("conflict: got %#v", err)
	}
	if f.gotSet.NAT == nil || !*f.gotSet.NAT {
		t.Errorf("the request body did not reach the service: %+v", f.gotSet)
	}
	if _, err := c.GetVM(context.Background(), "web"); !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || ae.Body.Code != api.CodeInternal {
		t.Fatalf("unmapped error: got %#v", err)
	}

	req, _ := http.NewRequest(http.MethodPatch, "http://bangerd/v1/vms/web", strings.NewReader(`{"memory":1}`))
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: status %d, want 400", resp.StatusCode)
	}

	resp, err = raw.Get("http://bangerd/v1/frobnicate")
	if err != nil {
		t.Fatal(err)
	}
	var eb api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || eb.Error.Code != api.CodeNotFound || !strings.Contains(eb.Error.Message, "GET /v1/frobnicate") {
		t.Errorf("unknown endpoint: %d %+v", resp.StatusCode, eb)
	}
}

func TestEventsStreamsWhatTheServicePublishes(t *testing.T) {
	f := &fakeService{events: []api.Event{{Type: api.EventCreated, VM: "web"}, {Type: api.EventStopped, VM: "web", Message: "vmm exited"}}}
	c, _ := serve(t, f)
	var got []api.Event
	if err := c.Events(context.Background(), func(ev api.Event) { got = append(got, ev) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != api.EventCreated || got[1].Message != "vmm exited" {
		t.Errorf("events = %+v", got)
	}
}
