// Package server is bangerd's HTTP API: routes, request decoding, NDJSON
// streaming and the mapping of errors to status codes. It holds no VM logic;
// everything is delegated to a Service.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
)

// Service is what the API exposes; bangerd's daemon implements it.
type Service interface {
	Status(ctx context.Context) api.DaemonStatus
	ListVMs(ctx context.Context) ([]api.VM, error)
	GetVM(ctx context.Context, ref string) (api.VM, error)
	CreateVM(ctx context.Context, req api.CreateVMRequest, p api.Progress) (api.VM, error)
	StartVM(ctx context.Context, ref string, p api.Progress) (api.VM, error)
	StopVM(ctx context.Context, ref string, req api.StopRequest, p api.Progress) (api.VM, error)
	RestartVM(ctx context.Context, ref string, p api.Progress) (api.VM, error)
	SuspendVM(ctx context.Context, ref string, p api.Progress) (api.VM, error)
	ResumeVM(ctx context.Context, ref string, p api.Progress) (api.VM, error)
	CloneVM(ctx context.Context, ref string, req api.CloneVMRequest, p api.Progress) (api.VM, error)
	ExportVM(ctx context.Context, ref string) (api.VMExport, error)
	KillVM(ctx context.Context, ref string, req api.KillRequest) (api.VM, error)
	DeleteVM(ctx context.Context, ref string, force bool) (api.VM, error)
	SetVM(ctx context.Context, ref string, req api.SetVMRequest) (api.VM, error)
	VMStats(ctx context.Context, ref string) (api.VMStats, error)
	VMPorts(ctx context.Context, ref string) (api.PortsResponse, error)
	VMHealth(ctx context.Context, ref string) (api.GuestHealth, error)
	ListImages(ctx context.Context) ([]api.Image, error)
	GetImage(ctx context.Context, ref string) (api.Image, error)
	RegisterImage(ctx context.Context, req api.RegisterImageRequest) (api.Image, error)
	DeleteImage(ctx context.Context, ref string) (api.Image, error)
	Subscribe(ctx context.Context) <-chan api.Event
	RequestShutdown()
}

// New returns the API handler.
func New(s Service, log *slog.Logger) http.Handler {
	h := &handler{s: s, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "stopping"})
		s.RequestShutdown()
	})
	mux.HandleFunc("GET /v1/vms", func(w http.ResponseWriter, r *http.Request) {
		vms, err := s.ListVMs(r.Context())
		h.reply(w, vms, err)
	})
	mux.HandleFunc("POST /v1/vms", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateVMRequest
		if !h.decode(w, r, &req) {
			return
		}
		h.stream(w, r, func(p api.Progress) (any, error) { return s.CreateVM(r.Context(), req, p) })
	})
	mux.HandleFunc("GET /v1/vms/{ref}", func(w http.ResponseWriter, r *http.Request) {
		vm, err := s.GetVM(r.Context(), r.PathValue("ref"))
		h.reply(w, vm, err)
	})
	mux.HandleFunc("PATCH /v1/vms/{ref}", func(w http.ResponseWriter, r *http.Request) {
		var req api.SetVMRequest
		if !h.decode(w, r, &req) {
			return
		}
		vm, err := s.SetVM(r.Context(), r.PathValue("ref"), req)
		h.reply(w, vm, err)
	})
	mux.HandleFunc("DELETE /v1/vms/{ref}", func(w http.ResponseWriter, r *http.Request) {
		vm, err := s.DeleteVM(r.Context(), r.PathValue("ref"), r.URL.Query().Get("force") == "true")
		h.reply(w, vm, err)
	})
	mux.HandleFunc("POST /v1/vms/{ref}/start", func(w http.ResponseWriter, r *http.Request) {
		h.stream(w, r, func(p api.Progress) (any, error) { return s.StartVM(r.Context(), r.PathValue("ref"), p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/stop", func(w http.ResponseWriter, r *http.Request) {
		var req api.StopRequest
		if !h.decode(w, r, &req) {
			return
		}
		h.stream(w, r, func(p api.Progress) (any, error) { return s.StopVM(r.Context(), r.PathValue("ref"), req, p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/restart", func(w http.ResponseWriter, r *http.Request) {
		h.stream(w, r, func(p api.Progress) (any, error) { return s.RestartVM(r.Context(), r.PathValue("ref"), p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/suspend", func(w http.ResponseWriter, r *http.Request) {
		h.stream(w, r, func(p api.Progress) (any, error) { return s.SuspendVM(r.Context(), r.PathValue("ref"), p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/resume", func(w http.ResponseWriter, r *http.Request) {
		h.stream(w, r, func(p api.Progress) (any, error) { return s.ResumeVM(r.Context(), r.PathValue("ref"), p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/clone", func(w http.ResponseWriter, r *http.Request) {
		var req api.CloneVMRequest
		if !h.decode(w, r, &req) {
			return
		}
		h.stream(w, r, func(p api.Progress) (any, error) { return s.CloneVM(r.Context(), r.PathValue("ref"), req, p) })
	})
	mux.HandleFunc("POST /v1/vms/{ref}/export", func(w http.ResponseWriter, r *http.Request) {
		x, err := s.ExportVM(r.Context(), r.PathValue("ref"))
		h.reply(w, x, err)
	})
	mux.HandleFunc("POST /v1/vms/{ref}/kill", func(w http.ResponseWriter, r *http.Request) {
		var req api.KillRequest
		if !h.decode(w, r, &req) {
			return
		}
		vm, err := s.KillVM(r.Context(), r.PathValue("ref"), req)
		h.reply(w, vm, err)
	})
	mux.HandleFunc("GET /v1/vms/{ref}/stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.VMStats(r.Context(), r.PathValue("ref"))
		h.reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/vms/{ref}/ports", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.VMPorts(r.Context(), r.PathValue("ref"))
		h.reply(w, p, err)
	})
	mux.HandleFunc("GET /v1/vms/{ref}/health", func(w http.ResponseWriter, r *http.Request) {
		hl, err := s.VMHealth(r.Context(), r.PathValue("ref"))
		h.reply(w, hl, err)
	})
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
		ims, err := s.ListImages(r.Context())
		h.reply(w, ims, err)
	})
	mux.HandleFunc("POST /v1/images", func(w http.ResponseWriter, r *http.Request) {
		var req api.RegisterImageRequest
		if !h.decode(w, r, &req) {
			return
		}
		im, err := s.RegisterImage(r.Context(), req)
		h.reply(w, im, err)
	})
	mux.HandleFunc("GET /v1/images/{ref}", func(w http.ResponseWriter, r *http.Request) {
		im, err := s.GetImage(r.Context(), r.PathValue("ref"))
		h.reply(w, im, err)
	})
	mux.HandleFunc("DELETE /v1/images/{ref}", func(w http.ResponseWriter, r *http.Request) {
		im, err := s.DeleteImage(r.Context(), r.PathValue("ref"))
		h.reply(w, im, err)
	})
	mux.HandleFunc("GET /v1/events", h.events)
	registerForwards(mux, h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
	})
	return h.logRequests(mux)
}

type handler struct {
	s   Service
	log *slog.Logger
}

func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		h.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "duration_ms", time.Since(start).Milliseconds())
	})
}

func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: "read request body: " + err.Error()})
		return false
	}
	if len(body) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: "decode request body: " + err.Error()})
		return false
	}
	return true
}

func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status, e := apierr.ToAPI(err)
		if status >= 500 {
			h.log.Error("request failed", "error", err)
		}
		writeError(w, status, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// stream runs op; a client that accepts NDJSON gets progress events and a
// final "result" or "error" event, others get the plain JSON reply.
func (h *handler) stream(w http.ResponseWriter, r *http.Request, op func(api.Progress) (any, error)) {
	if r.Header.Get("Accept") != api.NDJSON {
		v, err := op(discard{})
		h.reply(w, v, err)
		return
	}
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	emit := func(ev api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	v, err := op(progressFunc(emit))
	if err != nil {
		_, e := apierr.ToAPI(err)
		emit(api.Event{Type: api.EventError, Error: &e})
		return
	}
	ev := api.Event{Type: api.EventResult}
	if vm, ok := v.(api.VM); ok {
		ev.Result = &vm
		ev.VM = vm.Name
	}
	emit(ev)
}

// progressFunc adapts the stream's writer to the daemon's api.Progress.
type progressFunc func(api.Event)

func (f progressFunc) Report(ev api.Event) { f(ev) }

// discard is the progress of a client that did not ask for a stream.
type discard struct{}

func (discard) Report(api.Event) {}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for ev := range h.s.Subscribe(r.Context()) {
		if err := enc.Encode(ev); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e api.Error) {
	writeJSON(w, status, api.ErrorBody{Error: e})
}
