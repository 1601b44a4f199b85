package tui

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/client"
)

// fakeBackend answers like bangerd from canned replies keyed by
// "METHOD path", and records every call. A request nobody set up gets the
// not_found error bangerd gives an unknown endpoint.
type fakeBackend struct {
	mu      sync.Mutex
	replies map[string]any
	errs    map[string]error
	// progress is streamed by Stream before it returns result.
	progress []api.Event
	result   *api.VM
	// events are delivered by Events, which then ends with eventsErr.
	events    []api.Event
	eventsErr error
	calls     []fakeCall
}

type fakeCall struct {
	method, path string
	body         []byte
}

func newFake() *fakeBackend {
	return &fakeBackend{replies: map[string]any{}, errs: map[string]error{}}
}

func (f *fakeBackend) record(method, path string, body any) (reply any, err error, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	f.calls = append(f.calls, fakeCall{method, path, b})
	k := method + " " + path
	if err := f.errs[k]; err != nil {
		return nil, err, true
	}
	reply, ok = f.replies[k]
	return reply, nil, ok
}

func notFound(method, path string) error {
	return &client.APIError{Status: http.StatusNotFound, Body: api.Error{Code: api.CodeNotFound, Message: "no such endpoint: " + method + " " + path}}
}

func (f *fakeBackend) Do(ctx context.Context, method, path string, body, out any) error {
	reply, err, ok := f.record(method, path, body)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(method, path)
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func (f *fakeBackend) Stream(ctx context.Context, method, path string, body any, onEvent func(api.Event)) (*api.VM, error) {
	if _, err, _ := f.record(method, path, body); err != nil {
		return nil, err
	}
	for _, ev := range f.progress {
		onEvent(ev)
	}
	return f.result, nil
}

func (f *fakeBackend) Events(ctx context.Context, onEvent func(api.Event)) error {
	if _, err, _ := f.record(http.MethodGet, "/v1/events", nil); err != nil {
		return err
	}
	for _, ev := range f.events {
		onEvent(ev)
	}
	return f.eventsErr
}

// count is how many calls went to "METHOD path".
func (f *fakeBackend) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.method == method && c.path == path {
			n++
		}
	}
	return n
}

func (f *fakeBackend) lastBody(method, path string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if c := f.calls[i]; c.method == method && c.path == path {
			return c.body
		}
	}
	return nil
}

// run executes cmd and every command it batches, concurrently, and
// returns the messages that came back within a short wait. Commands that
// block by design (the inbox listener, the refresh tick) simply do not
// answer in time.
func run(t *testing.T, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	var (
		mu   sync.Mutex
		msgs []tea.Msg
		wg   sync.WaitGroup
	)
	var launch func(tea.Cmd)
	launch = func(c tea.Cmd) {
		if c == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := c()
			if batch, ok := msg.(tea.BatchMsg); ok {
				for _, sub := range batch {
					launch(sub)
				}
				return
			}
			if msg != nil {
				mu.Lock()
				msgs = append(msgs, msg)
				mu.Unlock()
			}
		}()
	}
	launch(cmd)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(150 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]tea.Msg(nil), msgs...)
}

// find returns the first message of type T.
func find[T tea.Msg](msgs []tea.Msg) (T, bool) {
	for _, m := range msgs {
		if v, ok := m.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}
