package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
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

// shutdown asks the init to reboot or power off once the 202 had time to
// leave: `systemctl reboot|poweroff` under systemd, else the plain
// `reboot`/`poweroff` commands every init ships (runit's stop its services
// and bring the system down). A systemctl installed beside another init
// cannot do it, so the choice is by the running init, not by what is
// installed. The VM boots with reboot=k, so a reboot ends the VMM: that is
// how the host stops a VM cleanly.
func (s *Server) shutdown(action string) {
	time.Sleep(s.opts.ShutdownDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := []string{action}
	if fi, err := os.Stat(s.opts.SystemdDir); err == nil && fi.IsDir() {
		argv = []string{"systemctl", action}
	}
	if _, err := s.run(ctx, argv...); err != nil {
		s.log.Error("shutdown failed", "action", action, "argv", argv, "error", err)
	}
}
