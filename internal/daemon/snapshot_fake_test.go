package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"banger/internal/agent"
	"banger/internal/paths"
	"banger/internal/vmm"
)

var _ vmm.Snapshotter = (*fakeDriver)(nil)

// Suspend ends the fake VMM and writes a snapshot naming the VM, so a
// restore can tell its own snapshot from a damaged one.
func (f *fakeDriver) Suspend(_ context.Context, spec vmm.Spec, p vmm.Process, snap vmm.Snapshot) error {
	if err := os.WriteFile(snap.Memory, []byte("fake-snapshot "+spec.ID), 0o600); err != nil {
		return err
	}
	p.Signal(syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitExit(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	f.suspends++
	f.mu.Unlock()
	return nil
}

func (f *fakeDriver) Restore(ctx context.Context, spec vmm.Spec, snap vmm.Snapshot) (vmm.Process, error) {
	b, err := os.ReadFile(snap.Memory)
	if err != nil {
		return vmm.Process{}, err
	}
	if string(b) != "fake-snapshot "+spec.ID {
		return vmm.Process{}, errors.New("load of migration failed: invalid stream")
	}
	p, err := f.Start(ctx, spec)
	if err == nil {
		f.mu.Lock()
		f.restores++
		f.mu.Unlock()
	}
	return p, err
}

// fakeAgent is the guest agent of fake VMs: the real agent server, with
// sync and clock recorded, behind Firecracker's vsock handshake on the
// VM's agent socket.
type fakeAgent struct {
	mu     sync.Mutex
	syncs  int
	clocks []time.Time
}

func (a *fakeAgent) counts() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.syncs, len(a.clocks)
}

func (a *fakeAgent) serve(spec vmm.Spec) (vmm.Attachment, error) {
	tok, err := os.ReadFile(paths.VMDir(spec.Dir).AgentToken())
	if err != nil {
		return nil, err
	}
	srv := agent.NewServer(agent.Options{
		Token: strings.TrimSpace(string(tok)),
		// Never the real tools: a shutdown request must not reach the
		// host's systemctl or reboot.
		Run: func(_ context.Context, argv ...string) ([]byte, error) {
			return nil, fmt.Errorf("fake agent: %v not run", argv)
		},
		Sync: func() { a.mu.Lock(); a.syncs++; a.mu.Unlock() },
		SetClock: func(t time.Time) error {
			a.mu.Lock()
			a.clocks = append(a.clocks, t)
			a.mu.Unlock()
			return nil
		},
	})
	os.Remove(spec.AgentSocket)
	ln, err := net.Listen("unix", spec.AgentSocket)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(handshakeListener{ln})
	return closerFunc(func() error { return hs.Close() }), nil
}

// handshakeListener answers "CONNECT <port>" with "OK 1" before handing
// the connection to HTTP.
type handshakeListener struct{ net.Listener }

func (l handshakeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		line, err := readHandshake(c)
		if err != nil || !strings.HasPrefix(line, "CONNECT ") {
			c.Close()
			continue
		}
		fmt.Fprintf(c, "OK 1\n")
		return c, nil
	}
}

// readHandshake reads one line a byte at a time, so nothing of the HTTP
// request that follows is consumed.
func readHandshake(c net.Conn) (string, error) {
	r := bufio.NewReaderSize(oneByte{c}, 16)
	return r.ReadString('\n')
}

type oneByte struct{ c net.Conn }

func (o oneByte) Read(p []byte) (int, error) { return o.c.Read(p[:1]) }

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
