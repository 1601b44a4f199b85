package tui

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/client/clienttest"
)

// fakeBackend is the real typed client talking to a fake bangerd on a unix
// socket, which answers from canned replies keyed by "METHOD path" and
// records every call. A request nobody set up gets the not_found error
// bangerd gives an unknown endpoint.
type fakeBackend struct {
	*client.Client
	mu      sync.Mutex
	replies map[string]any
	errs    map[string]error
	// progress is streamed by a lifecycle operation before result.
	progress []api.Event
	result   *api.VM
	// events are delivered by GET /v1/events, which then ends; cut short
	// (the connection dropped) when eventsErr is set.
	events    []api.Event
	eventsErr error
	calls     []fakeCall
}

type fakeCall struct {
	method, path string
	body         []byte
}

func newFake(t *testing.T) *fakeBackend {
	t.Helper()
	f := &fakeBackend{replies: map[string]any{}, errs: map[string]error{}}
	f.Client, _ = clienttest.Serve(t, f)
	return f
}

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{r.Method, path, body})
	k := r.Method + " " + path
	err := f.errs[k]
	reply, ok := f.replies[k]
	progress, result, events, eventsErr := f.progress, f.result, f.events, f.eventsErr
	f.mu.Unlock()

	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		writeJSON(w, apiErr.Status, api.ErrorBody{Error: apiErr.Body})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, api.ErrorBody{Error: api.Error{Code: api.CodeInternal, Message: err.Error()}})
	case k == "GET /v1/events":
		w.Header().Set("Content-Type", api.NDJSON)
		enc := json.NewEncoder(w)
		for _, ev := range events {
			enc.Encode(ev)
		}
		w.(http.Flusher).Flush()
		if eventsErr != nil {
			panic(http.ErrAbortHandler) // drops the connection mid-stream
		}
	case r.Header.Get("Accept") == api.NDJSON:
		w.Header().Set("Content-Type", api.NDJSON)
		enc := json.NewEncoder(w)
		for _, ev := range progress {
			enc.Encode(ev)
		}
		enc.Encode(api.Event{Type: api.EventResult, Result: result})
	case ok:
		writeJSON(w, http.StatusOK, reply)
	default:
		writeJSON(w, http.StatusNotFound, api.ErrorBody{Error: api.Error{Code: api.CodeNotFound, Message: "no such endpoint: " + r.Method + " " + path}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
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
