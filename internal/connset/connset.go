// Package connset tracks a server's live connections, so that closing the
// server ends them all, including one accepted while it closes. The
// localhost forwards and qemu's agent-socket proxy both need exactly this.
package connset

import (
	"io"
	"sync"
)

// Set is a set of open connections. The zero value is ready to use.
type Set struct {
	mu     sync.Mutex
	closed bool
	m      map[io.Closer]struct{}
}

// Add records c; it returns false once the set is closed, and the caller
// must then close c itself.
func (s *Set) Add(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.m == nil {
		s.m = map[io.Closer]struct{}{}
	}
	s.m[c] = struct{}{}
	return true
}

// Remove forgets c (it does not close it).
func (s *Set) Remove(c io.Closer) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

// Close closes every recorded connection and refuses later Adds. It
// reports whether this call closed the set (false when it was already).
func (s *Set) Close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	for c := range s.m {
		c.Close()
	}
	return true
}
