package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultAddr is where bangerd serves the zone unless configured otherwise.
const DefaultAddr = "127.0.0.1:42069"

// Limits that keep a flood from costing memory: a fixed number of UDP
// readers, a cap on concurrent TCP connections, deadlines on every read.
const (
	udpWorkers      = 4
	maxTCPConns     = 16
	maxTCPQueries   = 100
	tcpWriteTimeout = 5 * time.Second
)

// tcpIdleTimeout closes a TCP connection that sends no query; a variable so
// tests can lengthen it.
var tcpIdleTimeout = 5 * time.Second

// Server serves the vm. zone over UDP and TCP on one address.
type Server struct {
	// Addr is the address to listen on (DefaultAddr when empty). A zero
	// port picks a free port, the same for UDP and TCP; see LocalAddr.
	Addr    string
	Records *Records
	Logger  *slog.Logger

	mu      sync.Mutex
	udp     *net.UDPConn
	tcp     *net.TCPListener
	conns   map[net.Conn]struct{}
	closed  bool
	stopCtx func() bool
	wg      sync.WaitGroup
}

// Start binds UDP and TCP and serves until ctx ends or Close is called.
// It returns once both sockets are bound.
func (s *Server) Start(ctx context.Context) error {
	if s.Records == nil {
		return errors.New("dns server: no record set")
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("dns server address %q: %w", addr, err)
	}
	udp, tcp, err := bindBoth(ap)
	if err != nil {
		return fmt.Errorf("dns server on %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.udp != nil || s.closed {
		s.mu.Unlock()
		udp.Close()
		tcp.Close()
		return errors.New("dns server: already started")
	}
	s.udp, s.tcp, s.conns = udp, tcp, map[net.Conn]struct{}{}
	s.mu.Unlock()

	a := answerer{records: s.Records}
	for range udpWorkers {
		s.wg.Go(func() { s.serveUDP(a) })
	}
	s.wg.Go(func() { s.serveTCP(a) })
	stop := context.AfterFunc(ctx, func() { s.Close() })
	s.mu.Lock()
	s.stopCtx = stop
	s.mu.Unlock()
	s.Logger.Info("dns server listening", "addr", s.LocalAddr().String(), "zone", Zone)
	return nil
}

// LocalAddr is the bound address (useful with port 0); invalid before Start.
func (s *Server) LocalAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return netip.AddrPort{}
	}
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close stops serving, closes every socket and waits for the goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.stopCtx != nil {
		s.stopCtx()
	}
	var errs []error
	if s.udp != nil {
		errs = append(errs, s.udp.Close(), s.tcp.Close())
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// bindBoth binds UDP and TCP on the same port; with port 0 it retries
// until the port UDP got is also free for TCP.
func bindBoth(ap netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, nil, err
		}
		port := udp.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), port)))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if ap.Port() != 0 || attempt == 10 {
			return nil, nil, err
		}
	}
}

func (s *Server) serveUDP(a answerer) {
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.Logger.Debug("dns udp read", "error", err)
			continue
		}
		if resp := a.respond(buf[:n], true); resp != nil {
			if _, err := s.udp.WriteToUDPAddrPort(resp, from); err != nil {
				s.Logger.Debug("dns udp write", "to", from.String(), "error", err)
			}
		}
	}
}

func (s *Server) serveTCP(a answerer) {
	slots := make(chan struct{}, maxTCPConns)
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.Logger.Warn("dns tcp accept", "error", err)
			time.Sleep(100 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close() // full: refuse rather than queue
			continue
		}
		if !s.track(c) {
			c.Close()
			<-slots
			return
		}
		s.wg.Go(func() {
			defer func() { <-slots }()
			defer s.untrack(c)
			s.serveConn(c, a)
		})
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn answers length-prefixed queries (RFC 7766) until the client
// closes, idles, misbehaves or has asked maxTCPQueries.
func (s *Server) serveConn(c net.Conn, a answerer) {
	var lenBuf [2]byte
	msg := make([]byte, 65535)
	for range maxTCPQueries {
		c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if n == 0 {
			return
		}
		if _, err := io.ReadFull(c, msg[:n]); err != nil {
			return
		}
		resp := a.respond(msg[:n], false)
		if resp == nil {
			return
		}
		out := make([]byte, 2+len(resp))
		binary.BigEndian.PutUint16(out, uint16(len(resp)))
		copy(out[2:], resp)
		c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
