// Package forward relays TCP connections from a host address to a port of
// a guest: `banger vm forward`. bangerd owns the listeners; this package
// only accepts, dials and copies, with a bound on concurrent connections
// and fixed-size buffers so that a burst of connections cannot grow
// bangerd without limit. It knows nothing of VMs or of where forwards are
// recorded.
package forward

import (
	"banger/internal/connset"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

const (
	// MaxConns bounds the connections one forward relays at once; more
	// wait in the listen backlog until one ends.
	MaxConns = 128
	// bufSize is the buffer of each direction of each connection.
	bufSize = 32 << 10
	// dialTimeout bounds connecting to the guest.
	dialTimeout = 5 * time.Second
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Listener is one running forward.
type Listener struct {
	ln     net.Listener
	target string
	log    *slog.Logger
	slots  chan struct{}
	wg     sync.WaitGroup
	conns  connset.Set
}

// Listen starts relaying connections to listen (host:port) to target
// (guest:port).
func Listen(listen, target string, log *slog.Logger) (*Listener, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	l := &Listener{ln: ln, target: target, log: log, slots: make(chan struct{}, MaxConns)}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// Addr is the address the forward listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

func (l *Listener) serve() {
	defer l.wg.Done()
	for {
		// Take a slot before accepting: beyond MaxConns, connections
		// queue in the kernel's backlog instead of in bangerd.
		l.slots <- struct{}{}
		c, err := l.ln.Accept()
		if err != nil {
			<-l.slots
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !l.conns.Add(c) {
			c.Close()
			<-l.slots
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-l.slots }()
			l.relay(c)
		}()
	}
}

func (l *Listener) relay(c net.Conn) {
	defer l.conns.Remove(c)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	var d net.Dialer
	g, err := d.DialContext(ctx, "tcp", l.target)
	cancel()
	if err != nil {
		l.log.Debug("forward: guest refused", "target", l.target, "error", err)
		return
	}
	if !l.conns.Add(g) {
		g.Close()
		return
	}
	defer l.conns.Remove(g)
	defer g.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		bp := bufPool.Get().(*[]byte)
		io.CopyBuffer(dst, src, *bp)
		bufPool.Put(bp)
		// Half-close so the other side sees EOF and can finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(g, c)
	go pipe(c, g)
	<-done
	<-done
}

// Close stops listening and ends every relayed connection.
func (l *Listener) Close() error {
	l.conns.Close()
	err := l.ln.Close()
	l.wg.Wait()
	return err
}
