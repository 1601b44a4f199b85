package agent

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"banger/internal/agent/agentproto"
)

func TestSyncFlushes(t *testing.T) {
	s, _ := testServer(t)
	synced := 0
	s.opts.Sync = func() { synced++ }
	rec, _ := do(t, s, http.MethodPost, agentproto.PathSync, "{}")
	if rec.Code != http.StatusOK || synced != 1 {
		t.Fatalf("sync: status %d, synced %d times; want 200 and 1", rec.Code, synced)
	}
	if rec, _ := do(t, s, http.MethodGet, agentproto.PathSync, ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET sync: status %d, want 405", rec.Code)
	}
}

func TestClockSetsTime(t *testing.T) {
	s, _ := testServer(t)
	var got time.Time
	s.opts.SetClock = func(t time.Time) error { got = t; return nil }
	want := time.Now().Add(time.Hour).Truncate(time.Nanosecond)
	rec, _ := do(t, s, http.MethodPost, agentproto.PathClock, `{"unix_nano":`+strconv.FormatInt(want.UnixNano(), 10)+`}`)
	if rec.Code != http.StatusOK || !got.Equal(want) {
		t.Fatalf("clock: status %d, set %v; want 200 and %v", rec.Code, got, want)
	}
}

func TestClockRejectsBadRequests(t *testing.T) {
	s, _ := testServer(t)
	called := false
	s.opts.SetClock = func(time.Time) error { called = true; return nil }
	for _, body := range []string{`{"unix_nano":0}`, `{"unix_nano":-5}`, `{"when":1}`, `not json`} {
		rec, e := do(t, s, http.MethodPost, agentproto.PathClock, body)
		if rec.Code != http.StatusBadRequest || e.Code != agentproto.CodeBadRequest {
			t.Errorf("body %s: status %d code %q, want 400 bad_request", body, rec.Code, e.Code)
		}
	}
	if called {
		t.Error("a bad request set the clock")
	}
	s.opts.SetClock = func(time.Time) error { return errors.New("operation not permitted") }
	rec, e := do(t, s, http.MethodPost, agentproto.PathClock, `{"unix_nano":`+strconv.FormatInt(time.Now().UnixNano(), 10)+`}`)
	if rec.Code != http.StatusInternalServerError || e.Code != agentproto.CodeInternal {
		t.Errorf("failing set: status %d code %q, want 500 internal", rec.Code, e.Code)
	}
}
