// Package daemon is bangerd: it owns the API socket, the state store, VM
// lifecycle orchestration and reconciliation after restarts. HTTP routing is
// in server/; host integrations (disks, network, VMMs, agent) are called
// through their own packages.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/config"
	"banger/internal/daemon/server"
	"banger/internal/paths"
)

// ErrAlreadyRunning is returned when another bangerd holds the lock.
var ErrAlreadyRunning = errors.New("bangerd is already running")

// Options configure Run.
type Options struct {
	Layout  paths.Layout
	Config  config.Config
	Exe     string    // path of the running bangerd binary
	Stderr  io.Writer // startup errors before the log is open
	Version string
	// Host replaces the real machine integration (tests).
	Host Host
	// SSHReady replaces the probe of a guest's sshd (tests).
	SSHReady func(ctx context.Context, addr string) bool
}

// Run starts bangerd and serves until SIGTERM/SIGINT or an API shutdown.
// VMs keep running after Run returns.
func Run(ctx context.Context, opts Options) error {
	l := opts.Layout
	if err := paths.CheckSocketPath(l.Socket()); err != nil {
		return err
	}
	if err := l.EnsureDirs(); err != nil {
		return err
	}
	logFile, err := os.OpenFile(l.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log %s: %w", l.LogFile(), err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: parseLevel(opts.Config.LogLevel)}))

	lock, err := acquireLock(l)
	if err != nil {
		return err
	}
	defer lock.Close()

	// We hold the lock, so any socket file left behind is from a dead
	// daemon: remove it before binding.
	if err := os.Remove(l.Socket()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", l.Socket(), err)
	}
	ln, err := net.Listen("unix", l.Socket())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.Socket(), err)
	}
	if err := os.Chmod(l.Socket(), 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("chmod socket: %w", err)
	}
	defer os.Remove(l.Socket())
	if err := os.WriteFile(l.DaemonPID(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(l.DaemonPID())

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	d, err := New(ctx, opts, log, cancel)
	if err != nil {
		ln.Close()
		log.Error("startup failed", "error", err)
		return err
	}
	defer d.Close()

	srv := &http.Server{Handler: server.New(d, log), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("bangerd started", "pid", os.Getpid(), "socket", l.Socket(), "version", opts.Version, "dns", d.DNSAddr())

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server failed", "error", err)
			return err
		}
	}
	log.Info("bangerd stopping")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	log.Info("bangerd stopped; VMs keep running")
	return nil
}

// acquireLock takes an exclusive flock on the daemon lock file. A second
// daemon fails here, before it touches the first one's socket.
func acquireLock(l paths.Layout) (*os.File, error) {
	f, err := os.OpenFile(l.DaemonLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", l.DaemonLock(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		pid := "unknown"
		if b, err := os.ReadFile(l.DaemonPID()); err == nil {
			pid = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%w (pid %s, socket %s); stop it with `banger daemon stop`", ErrAlreadyRunning, pid, l.Socket())
	}
	return f, nil
}

func parseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
