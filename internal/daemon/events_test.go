package daemon

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
)

// hubDeadline bounds how long the stress test waits for anything; far above
// what a loaded 2-core machine under -race needs.
const hubDeadline = 2 * time.Minute

func waitGroupOrFail(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hubDeadline):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s still running after %v\n%s", what, hubDeadline, buf[:runtime.Stack(buf, true)])
	}
}

// checkOrder checks one subscriber's events: each names a publisher and a
// sequence number, which must increase per publisher (no duplicate, no
// reordering), and carries a time.
func checkOrder(ev api.Event, last map[string]int) error {
	seq, err := strconv.Atoi(ev.Message)
	if err != nil || ev.Type != "stress" || !strings.HasPrefix(ev.VM, "pub-") {
		return fmt.Errorf("event %+v was never published", ev)
	}
	if ev.Time.IsZero() {
		return fmt.Errorf("event %+v has no time", ev)
	}
	if prev, ok := last[ev.VM]; ok && seq <= prev {
		return fmt.Errorf("from %s: event %d after %d", ev.VM, seq, prev)
	}
	last[ev.VM] = seq
	return nil
}

// TestEventHubStress publishes from many goroutines while subscribers come
// and go. Every subscriber sees each publisher's events in order and at
// most once; a subscriber that never reads neither blocks the publishers
// nor gets more than its buffer; a cancelled subscription's channel is
// closed, and every channel is closed when the daemon stops. Run under
// -race (CI does) it checks the hub's locking.
func TestEventHubStress(t *testing.T) {
	const publishers, events, steady, churners = 8, 400, 4, 8
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	d := &Daemon{bgCtx: ctx, events: newHub()}

	stalled := d.Subscribe(context.Background()) // never read until the end
	var subs sync.WaitGroup
	for s := range steady {
		c := d.Subscribe(context.Background())
		subs.Add(1)
		go func() {
			defer subs.Done()
			last := map[string]int{}
			for ev := range c { // ends when the daemon stops
				if err := checkOrder(ev, last); err != nil {
					t.Errorf("subscriber %d: %v", s, err)
					return
				}
			}
		}()
	}

	pubsDone := make(chan struct{})
	var churn sync.WaitGroup
	for s := range churners {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for {
				select {
				case <-pubsDone:
					return
				default:
				}
				sctx, cancel := context.WithCancel(context.Background())
				c := d.Subscribe(sctx)
				last := map[string]int{}
				for range 3 {
					select {
					case ev := <-c:
						if err := checkOrder(ev, last); err != nil {
							t.Errorf("churning subscriber %d: %v", s, err)
						}
					case <-pubsDone:
					}
				}
				cancel()
				deadline := time.After(hubDeadline)
			drain:
				for {
					select {
					case ev, ok := <-c:
						if !ok {
							break drain
						}
						if err := checkOrder(ev, last); err != nil {
							t.Errorf("churning subscriber %d: %v", s, err)
						}
					case <-deadline:
						t.Errorf("churning subscriber %d: channel not closed %v after its context ended", s, hubDeadline)
						return
					}
				}
			}
		}()
	}

	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range events {
				d.emit("stress", fmt.Sprintf("pub-%d", p), strconv.Itoa(i))
			}
		}()
	}
	waitGroupOrFail(t, &pubs, "publishers")
	close(pubsDone)
	waitGroupOrFail(t, &churn, "churning subscribers")

	if n := len(stalled); n != cap(stalled) {
		t.Errorf("subscriber that never read holds %d events, want its full buffer of %d", n, cap(stalled))
	}
	stop() // the daemon stops: every subscription ends
	waitGroupOrFail(t, &subs, "steady subscribers")
	last := map[string]int{}
	deadline := time.After(hubDeadline)
	for {
		select {
		case ev, ok := <-stalled:
			if !ok {
				d.events.mu.Lock()
				left := len(d.events.subs)
				d.events.mu.Unlock()
				if left != 0 {
					t.Errorf("%d subscriptions left after every channel closed", left)
				}
				return
			}
			if err := checkOrder(ev, last); err != nil {
				t.Errorf("stalled subscriber: %v", err)
			}
		case <-deadline:
			t.Fatalf("stalled subscriber's channel not closed %v after the daemon stopped", hubDeadline)
		}
	}
}
