package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/client"
	"banger/internal/config"
	"banger/internal/execx"
	"banger/internal/paths"
)

// env is what every command shares: resolved paths, config and a daemon
// client, loaded on first use.
type env struct {
	io     IO
	layout *paths.Layout
	cfg    *config.Config
	c      *client.Client
}

func (e *env) Layout() (paths.Layout, error) {
	if e.layout == nil {
		l, err := paths.FromEnv()
		if err != nil {
			return paths.Layout{}, err
		}
		e.layout = &l
	}
	return *e.layout, nil
}

func (e *env) Config() (config.Config, error) {
	if e.cfg == nil {
		l, err := e.Layout()
		if err != nil {
			return config.Config{}, err
		}
		c, err := config.Load(l.ConfigFile(), os.Environ())
		if err != nil {
			return config.Config{}, err
		}
		e.cfg = &c
	}
	return *e.cfg, nil
}

// Client returns a client for a daemon that answers, starting bangerd when
// nothing answers on the socket.
func (e *env) Client(ctx context.Context) (*client.Client, error) {
	if e.c != nil {
		return e.c, nil
	}
	l, err := e.Layout()
	if err != nil {
		return nil, err
	}
	// Validate config here too, so a bad config is reported by the CLI
	// directly rather than as a daemon that fails to start.
	if _, err := e.Config(); err != nil {
		return nil, err
	}
	if err := paths.CheckSocketPath(l.Socket()); err != nil {
		return nil, err
	}
	if err := l.CheckRuntimeDir(); err != nil {
		return nil, err
	}
	c := client.New(l.Socket())
	ok, err := answers(ctx, c)
	if err != nil {
		return nil, err
	}
	if ok {
		e.c = c
		return c, nil
	}
	if err := startDaemon(ctx, l, c); err != nil {
		return nil, err
	}
	e.c = c
	return c, nil
}

// ExistingClient returns a client only if a daemon already answers.
func (e *env) ExistingClient(ctx context.Context) (*client.Client, bool) {
	l, err := e.Layout()
	if err != nil {
		return nil, false
	}
	if l.CheckRuntimeDir() != nil {
		return nil, false
	}
	c := client.New(l.Socket())
	return c, alive(ctx, c)
}

func alive(ctx context.Context, c *client.Client) bool {
	ok, _ := answers(ctx, c)
	return ok
}

// answers reports whether a daemon answers on c's socket. A socket served
// by another user is an error, not "nothing answers": starting our own
// daemon would only fail on the same socket.
func answers(ctx context.Context, c *client.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	var fp *client.ForeignPeerError
	if errors.As(err, &fp) {
		return false, err
	}
	return err == nil, nil
}

// daemonBinary finds bangerd: BANGER_DAEMON_BIN, beside this executable,
// then PATH.
func daemonBinary() (string, error) {
	if p := os.Getenv("BANGER_DAEMON_BIN"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		p := filepath.Join(filepath.Dir(exe), "bangerd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bangerd")
	if err != nil {
		return "", errors.New("cannot find the bangerd binary beside banger or on PATH: run `make install` or set BANGER_DAEMON_BIN")
	}
	return p, nil
}

// startDaemon launches bangerd detached in its own session, so it survives
// this CLI, and waits until it answers.
func startDaemon(ctx context.Context, l paths.Layout, c *client.Client) error {
	bin, err := daemonBinary()
	if err != nil {
		return err
	}
	if err := l.EnsureDirs(); err != nil {
		return err
	}
	var offset int64
	if st, err := os.Stat(l.LogFile()); err == nil {
		offset = st.Size()
	}
	child, err := execx.Detached{Argv: []string{bin}, LogPath: l.LogFile()}.Start()
	if err != nil {
		return fmt.Errorf("start bangerd: %w", err)
	}
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-child.Done():
			// Another CLI may have started a daemon at the same moment; ours
			// then exits because the lock is taken, and theirs answers.
			if alive(ctx, c) {
				return nil
			}
			return fmt.Errorf("bangerd exited during startup (%v); last lines of %s:\n%s", child.Err(), l.LogFile(), logSince(l.LogFile(), offset, 10))
		case <-deadline:
			return fmt.Errorf("bangerd did not answer on %s within 15s; last lines of %s:\n%s", l.Socket(), l.LogFile(), logSince(l.LogFile(), offset, 10))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if alive(ctx, c) {
				return nil
			}
		}
	}
}

// logSince returns the last n lines written to path after offset; JSON
// log lines are shortened to their message and error.
func logSince(path string, offset int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if offset > 0 && offset <= int64(len(b)) {
		b = b[offset:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, line := range lines {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			msg := fmt.Sprint(rec["msg"])
			if e, ok := rec["error"]; ok {
				msg += ": " + fmt.Sprint(e)
			}
			lines[i] = "  " + msg
		} else {
			lines[i] = "  " + line
		}
	}
	return strings.Join(lines, "\n")
}
