package server

import (
	"context"
	"net/http"
	"strconv"

	"banger/internal/api"
)

// ForwardService is the localhost-forward part of the API; a Service that
// implements it gets the /v1/vms/{ref}/forwards routes.
type ForwardService interface {
	ListForwards(ctx context.Context, ref string) (api.ForwardList, error)
	SetAutoForward(ctx context.Context, ref string, on bool) (api.ForwardList, error)
	AddForward(ctx context.Context, ref string, req api.AddForwardRequest) (api.Forward, error)
	RemoveForward(ctx context.Context, ref, hostAddr string, hostPort int) (api.Forward, error)
}

func registerForwards(mux *http.ServeMux, h *handler) {
	fs, ok := h.s.(ForwardService)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/vms/{ref}/forwards", func(w http.ResponseWriter, r *http.Request) {
		out, err := fs.ListForwards(r.Context(), r.PathValue("ref"))
		h.reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/vms/{ref}/forwards/auto", func(w http.ResponseWriter, r *http.Request) {
		var req api.AutoForwardRequest
		if !h.decode(w, r, &req) {
			return
		}
		out, err := fs.SetAutoForward(r.Context(), r.PathValue("ref"), req.Enabled)
		h.reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/vms/{ref}/forwards", func(w http.ResponseWriter, r *http.Request) {
		var req api.AddForwardRequest
		if !h.decode(w, r, &req) {
			return
		}
		f, err := fs.AddForward(r.Context(), r.PathValue("ref"), req)
		h.reply(w, f, err)
	})
	mux.HandleFunc("DELETE /v1/vms/{ref}/forwards/{addr}/{port}", func(w http.ResponseWriter, r *http.Request) {
		port, err := strconv.Atoi(r.PathValue("port"))
		if err != nil {
			writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: "host port " + strconv.Quote(r.PathValue("port")) + " is not a number"})
			return
		}
		f, err := fs.RemoveForward(r.Context(), r.PathValue("ref"), r.PathValue("addr"), port)
		h.reply(w, f, err)
	})
}
