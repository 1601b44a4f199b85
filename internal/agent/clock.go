package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent/agentproto"
)

// handleSync flushes every filesystem before the host saves the VM, so a
// snapshot that later cannot be restored costs nothing the guest wrote:
// the cold boot that replaces it finds the data on the disks.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.opts.Sync()
	writeJSON(w, http.StatusOK, agentproto.SyncResponse{Milliseconds: time.Since(start).Milliseconds()})
}

// minClock refuses a clock from before this code existed: the host sends
// its own time, so anything earlier is a bug or a hostile request.
var minClock = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// handleClock sets the wall clock after a resume, which brings the guest
// back with the time it had when it was saved.
func (s *Server) handleClock(w http.ResponseWriter, r *http.Request) {
	var req agentproto.ClockRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, agentproto.CodeBadRequest, "decode clock request: "+err.Error())
		return
	}
	t := time.Unix(0, req.UnixNano)
	if t.Before(minClock) {
		writeError(w, http.StatusBadRequest, agentproto.CodeBadRequest,
			fmt.Sprintf("unix_nano %d is before %s", req.UnixNano, minClock.Format(time.RFC3339)))
		return
	}
	before := time.Now()
	if err := s.opts.SetClock(t); err != nil {
		writeError(w, http.StatusInternalServerError, agentproto.CodeInternal, "set clock: "+err.Error())
		return
	}
	s.log.Info("clock set", "step", t.Sub(before))
	writeJSON(w, http.StatusOK, agentproto.ClockResponse{StepNanos: int64(t.Sub(before))})
}

func setRealtime(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}
