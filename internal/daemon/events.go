package daemon

import (
	"context"
	"sync"
	"time"

	"banger/internal/api"
)

// hub fans lifecycle events out to GET /v1/events subscribers. A slow
// subscriber loses events rather than slowing VM operations.
type hub struct {
	mu   sync.Mutex
	subs map[chan api.Event]struct{}
}

func newHub() *hub { return &hub{subs: map[chan api.Event]struct{}{}} }

func (h *hub) publish(ev api.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

// Subscribe returns a channel of lifecycle events, closed when ctx ends.
func (d *Daemon) Subscribe(ctx context.Context) <-chan api.Event {
	c := make(chan api.Event, 64)
	d.events.mu.Lock()
	d.events.subs[c] = struct{}{}
	d.events.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-d.bgCtx.Done():
		}
		d.events.mu.Lock()
		delete(d.events.subs, c)
		d.events.mu.Unlock()
		close(c)
	}()
	return c
}

// emit publishes a lifecycle event about a VM.
func (d *Daemon) emit(typ, vm, msg string) {
	d.events.publish(api.Event{Type: typ, VM: vm, Message: msg})
}
