package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"banger/internal/agent/agentproto"
)

func (s *Server) handleShutdown(w http.ResponseWriter, r *http.Request) {
	var req agentproto.ShutdownRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, agentproto.CodeBadRequest, "decode shutdown request: "+err.Error())
		return
	}
	switch req.Action {
	case agentproto.ActionReboot, agentproto.ActionPoweroff:
	default:
		writeError(w, http.StatusBadRequest, agentproto.CodeBadRequest,
			`action must be "reboot" or "poweroff", got "`+req.Action+`"`)
		return
	}
	s.log.Info("shutdown requested", "action", req.Action, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, agentproto.ShutdownResponse(req))
	http.NewResponseController(w).Flush()
	go s.shutdown(req.Action)
}

// shutdown runs `systemctl reboot|poweroff` once the 202 had time to leave.
// The VM boots with reboot=k, so a reboot ends the VMM: that is how the host
// stops a VM cleanly.
func (s *Server) shutdown(action string) {
	time.Sleep(s.opts.ShutdownDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.run(ctx, "systemctl", action); err != nil {
		s.log.Error("shutdown failed", "action", action, "error", err)
	}
}
