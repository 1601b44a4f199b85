package fctest

import (
	"io"
	"net"
	"sync"
	"time"

	"banger/internal/vsock"
)

// vsockMux is the host side of Firecracker's hybrid vsock: a unix socket
// where a host process sends "CONNECT <port>\n" and, when a guest process
// listens on that port, reads "OK <local port>\n" followed by the stream.
// Without a listener (or before the guest runs) Firecracker closes the
// connection. The fake guest echoes everything it receives.
type vsockMux struct {
	ln    *net.UnixListener
	ports map[uint32]bool

	mu       sync.Mutex
	active   bool
	nextPort uint32
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
	// powerOff is the guest's poweroff, run once by a connection to
	// PowerOffPort; the guest is dead afterwards.
	powerOff func()
	path     string // the host socket
}

func listenVsock(path string, ports []uint32, keepSocket bool) (*vsockMux, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(!keepSocket)
	// Firecracker numbers host-side ports from 2^30 up.
	m := &vsockMux{path: path, ln: ln, ports: map[uint32]bool{}, nextPort: 1 << 30, conns: map[net.Conn]bool{}}
	for _, p := range ports {
		m.ports[p] = true
	}
	m.wg.Add(1)
	go m.accept()
	return m, nil
}

// activate marks the guest as running: its listeners now answer.
func (m *vsockMux) activate() {
	m.mu.Lock()
	m.active = true
	m.mu.Unlock()
}

func (m *vsockMux) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		m.conns[c] = true
		m.mu.Unlock()
		m.wg.Add(1)
		go m.serve(c)
	}
}

func (m *vsockMux) serve(c net.Conn) {
	defer m.wg.Done()
	defer func() {
		c.Close()
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
	}()
	port, err := vsock.ReadConnect(c, 5*time.Second)
	ok := err == nil
	m.mu.Lock()
	if ok && m.active && port == PowerOffPort && m.powerOff != nil {
		m.active = false
		off := m.powerOff
		m.mu.Unlock()
		off()
		return
	}
	listening := ok && m.active && m.ports[port]
	local := m.nextPort
	m.nextPort++
	m.mu.Unlock()
	if !listening {
		return
	}
	if err := vsock.WriteOK(c, local); err != nil {
		return
	}
	// Echo, including anything the client sent right after the handshake.
	io.Copy(c, c)
}

func (m *vsockMux) close() error {
	err := m.ln.Close()
	m.mu.Lock()
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}
