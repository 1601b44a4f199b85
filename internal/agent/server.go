// Package agent is the guest side of the banger agent: a small HTTP/1.1 +
// JSON server (health, listening ports, stats, shutdown) that
// banger-vsock-agent runs inside the VM on vsock or on the serial mux.
//
// It reads /proc, calls statfs, and runs few tools through the injected
// Runner: ss (for ports), and for shutdown systemctl on a systemd guest or
// the init's own reboot/poweroff commands on any other (runit). It must stay
// small and static (CGO_ENABLED=0): no dependencies beyond the standard
// library, golang.org/x/sys and banger's own transport packages.
package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"banger/internal/agent/agentproto"
	"banger/internal/execx"
)

// Runner runs a command and returns its stdout, with execx.Run's semantics:
// a missing binary is an error wrapping exec.ErrNotFound.
type Runner func(ctx context.Context, argv ...string) ([]byte, error)

// Options configures a Server. Zero values mean the real guest.
type Options struct {
	Version string
	// Token is the VM's agent token (agentproto.TokenPath). Every request
	// must carry it as "Authorization: Bearer <token>". An empty Token
	// refuses every request: an agent that could not read its token fails
	// closed.
	Token string
	Log   *slog.Logger
	// Run runs ss and the shutdown commands; default execx.Run.
	Run Runner
	// SystemdDir is the directory that exists only while systemd is the
	// running init (sd_booted(3)); default "/run/systemd/system".
	SystemdDir string
	// ProcRoot is where procfs is mounted; default "/proc".
	ProcRoot string
	// DiskPaths are reported by /v1/stats; default "/" and "/root".
	DiskPaths []string
	// Sync flushes the guest's filesystems; default sync(2).
	Sync func()
	// SetClock sets the wall clock; default clock_settime(CLOCK_REALTIME).
	SetClock func(time.Time) error
	// ShutdownDelay is how long the agent waits after answering 202 before
	// it starts the shutdown, so the answer leaves the guest first.
	ShutdownDelay time.Duration
}

// Server answers the agent API.
type Server struct {
	opts    Options
	log     *slog.Logger
	run     Runner
	started time.Time
}

// NewServer returns a Server with defaults filled in.
func NewServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Run == nil {
		opts.Run = execx.Run
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.SystemdDir == "" {
		opts.SystemdDir = "/run/systemd/system"
	}
	if opts.DiskPaths == nil {
		opts.DiskPaths = []string{"/", "/root"}
	}
	if opts.ShutdownDelay == 0 {
		opts.ShutdownDelay = 200 * time.Millisecond
	}
	if opts.Sync == nil {
		opts.Sync = syscall.Sync
	}
	if opts.SetClock == nil {
		opts.SetClock = setRealtime
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	return &Server{opts: opts, log: opts.Log, run: opts.Run, started: time.Now()}
}

// ServeHTTP routes the versioned API. Every answer, errors included, is
// JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	type route struct {
		method  string
		handler func(http.ResponseWriter, *http.Request)
	}
	routes := map[string]route{
		agentproto.PathHealth:   {http.MethodGet, s.handleHealth},
		agentproto.PathPorts:    {http.MethodGet, s.handlePorts},
		agentproto.PathStats:    {http.MethodGet, s.handleStats},
		agentproto.PathShutdown: {http.MethodPost, s.handleShutdown},
		agentproto.PathSync:     {http.MethodPost, s.handleSync},
		agentproto.PathClock:    {http.MethodPost, s.handleClock},
	}
	rt, ok := routes[r.URL.Path]
	switch {
	case !s.authorized(r):
		w.Header().Set("WWW-Authenticate", "Bearer")
		msg := "missing or wrong agent token"
		if s.opts.Token == "" {
			msg = "the agent has no token (" + agentproto.TokenPath + " was unreadable when it started); it refuses every request"
		}
		writeError(w, http.StatusUnauthorized, agentproto.CodeUnauthorized, msg)
	case !ok:
		writeError(w, http.StatusNotFound, agentproto.CodeNotFound, "no endpoint "+r.URL.Path)
	case r.Method != rt.method:
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, agentproto.CodeMethod, r.Method+" not allowed on "+r.URL.Path)
	default:
		rt.handler(w, r)
	}
}

// authorized reports whether r carries the VM's token. The comparison is
// constant-time; neither the header nor the token is ever logged.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return false
	}
	got := r.Header.Get("Authorization")
	return subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+s.opts.Token)) == 1
}

// LoadToken reads the agent token from path (agentproto.TokenPath in a
// VM). The file holds the token on one line.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read agent token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenLen {
		return "", fmt.Errorf("agent token in %s is %d characters long; want at least %d", path, len(tok), minTokenLen)
	}
	return tok, nil
}

// minTokenLen refuses a truncated token file: banger writes 64 hex
// characters (32 random bytes).
const minTokenLen = 32

// Serve answers requests on ln until ctx ends or ln fails. It returns nil
// when ctx ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err := hs.Serve(ln)
	if ctx.Err() != nil && errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, agentproto.ErrorResponse{Error: agentproto.Error{Code: code, Message: msg}})
}
