package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"banger/internal/agent/agentproto"
	"banger/internal/vsock"
)

// Transport is one way the agent can be reached. Listen is retried until it
// works, so a device that appears late (module loaded late, udev slow) is
// picked up.
type Transport struct {
	Name   string
	Listen func() (net.Listener, error)
}

// GuestTransports are the agent's transports in a VM: AF_VSOCK on
// agentproto.Port, and the serial mux on the agentproto.SerialPortName
// virtio-serial port. Both are served when both work: a kernel with the
// vsock core but no vsock device still lets the agent listen, so "it
// listened" does not mean "the host can reach it".
func GuestTransports(log *slog.Logger) []Transport {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return []Transport{
		{Name: "vsock", Listen: func() (net.Listener, error) { return vsock.ListenVsock(agentproto.Port) }},
		{Name: "serial", Listen: func() (net.Listener, error) {
			dev, err := FindSerialPort("/dev", "/sys", agentproto.SerialPortName)
			if err != nil {
				return nil, err
			}
			return vsock.ListenSerialLog(dev, agentproto.Port, log.With("transport", "serial"))
		}},
	}
}

// ErrNoSerialPort means no virtio-serial port with the wanted name exists.
var ErrNoSerialPort = errors.New("virtio-serial port not found")

// FindSerialPort returns the device of the virtio-serial port called name:
// the udev symlink devDir/virtio-ports/<name> when present, otherwise the
// vportNpM node whose sysfs name matches (udev may not have run yet).
func FindSerialPort(devDir, sysDir, name string) (string, error) {
	link := filepath.Join(devDir, "virtio-ports", name)
	if _, err := os.Stat(link); err == nil {
		return link, nil
	}
	entries, err := os.ReadDir(filepath.Join(sysDir, "class/virtio-ports"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("find serial port %s: %w", name, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sysDir, "class/virtio-ports", e.Name(), "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(devDir, e.Name()), nil
		}
	}
	return "", fmt.Errorf("find serial port %s: %w", name, ErrNoSerialPort)
}

// Backoff for transports that are not there (yet).
const (
	transportMinBackoff = 500 * time.Millisecond
	transportMaxBackoff = 5 * time.Second
)

// ServeTransports serves on every transport that works, retrying the others
// in the background, until ctx ends.
func (s *Server) ServeTransports(ctx context.Context, ts []Transport) {
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.superviseTransport(ctx, t)
		}()
	}
	wg.Wait()
}

func (s *Server) superviseTransport(ctx context.Context, t Transport) {
	log := s.log.With("transport", t.Name)
	backoff := transportMinBackoff
	reported := false
	for ctx.Err() == nil {
		ln, err := t.Listen()
		if err != nil {
			// Said once at info: on a VM without this device it is normal.
			if !reported {
				log.Info("transport not available, will keep trying", "error", err)
				reported = true
			} else {
				log.Debug("transport still not available", "error", err)
			}
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, transportMaxBackoff)
			continue
		}
		backoff, reported = transportMinBackoff, false
		log.Info("agent listening", "addr", ln.Addr().String())
		err = s.Serve(ctx, ln)
		ln.Close()
		if ctx.Err() != nil {
			return
		}
		log.Warn("transport stopped, restarting it", "error", err)
		sleepCtx(ctx, transportMinBackoff)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ListenDebug listens on "unix:PATH" or "tcp:HOST:PORT", for running the
// agent outside a VM (the hidden --listen flag).
func ListenDebug(spec string) (net.Listener, error) {
	network, addr, ok := strings.Cut(spec, ":")
	if !ok || addr == "" || (network != "unix" && network != "tcp") {
		return nil, fmt.Errorf("listen address %q: want unix:PATH or tcp:HOST:PORT", spec)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", spec, err)
	}
	return ln, nil
}
