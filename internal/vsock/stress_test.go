package vsock

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressDeadline bounds one stream's round trip. It is far above what a
// loaded 2-core machine under -race needs; hitting it means a hang.
const stressDeadline = 2 * time.Minute

// stressOp dials the mux, echoes a random payload through the guest and
// returns the payload and what came back. Any byte returned is checked by
// the caller: a stream must only ever carry its own data.
func stressOp(h *harness, seed uint64) (sent, got []byte, err error) {
	sent = randomBytes(seed, int(seed*7919%(64<<10)))
	c, err := h.dial(testPort)
	if err != nil {
		return sent, nil, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(stressDeadline))
	got, err = roundTrip(c, sent)
	return sent, got, err
}

// runWorkers runs op in n goroutines and waits for them, failing the test
// if they do not all return within stressDeadline.
func runWorkers(t *testing.T, n int, op func(w int)) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() { defer wg.Done(); op(w) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stressDeadline):
		buf := make([]byte, 1<<20)
		t.Fatalf("workers still running after %v\n%s", stressDeadline, buf[:runtime.Stack(buf, true)])
	}
}

// TestMuxStress drives the mux from many clients at once: first over a
// steady link, where every round trip must return exactly what was sent
// over one shared link; then while the serial link is cut and redialed
// under them, where a stream may fail but must never carry another
// stream's bytes, and the mux must recover; then while the mux is closed
// under them, where every client must return and nothing may leak. Run
// under -race (CI does) it checks the locking of the mux, the session and
// the streams.
func TestMuxStress(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	serveEcho(h.ln)
	const workers, iterations = 12, 25

	t.Run("steady", func(t *testing.T) {
		runWorkers(t, workers, func(w int) {
			for i := range iterations {
				sent, got, err := stressOp(h, uint64(w*1000+i))
				if err != nil || !bytes.Equal(got, sent) {
					t.Errorf("worker %d op %d: %d of %d bytes echoed intact, %v", w, i, len(got), len(sent), err)
					return
				}
			}
		})
		if d := h.dials.Load(); d != 1 {
			t.Errorf("serial link dialed %d times, want 1 shared link", d)
		}
	})

	t.Run("link drops", func(t *testing.T) {
		var ok, failed atomic.Int64
		stop := make(chan struct{})
		dropped := make(chan int)
		go func() {
			drops := 0
			defer func() { dropped <- drops }()
			for drops < 5 {
				// Cut the link only once streams got through on it.
				for base := ok.Load(); ok.Load() < base+int64(workers); {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
				h.dropLink()
				drops++
			}
		}()
		runWorkers(t, workers, func(w int) {
			for i := range 2 * iterations {
				sent, got, err := stressOp(h, uint64(100000+w*1000+i))
				if !bytes.HasPrefix(sent, got) {
					t.Errorf("worker %d op %d: read back %d bytes that are not a prefix of the %d sent", w, i, len(got), len(sent))
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("worker %d op %d: hung for %v", w, i, stressDeadline)
					return
				}
				if err == nil && len(got) == len(sent) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
		close(stop)
		drops := <-dropped
		t.Logf("%d round trips intact, %d cut short, %d link drops, %d dials", ok.Load(), failed.Load(), drops, h.dials.Load())
		if drops == 0 {
			t.Fatal("the link was never dropped: too few round trips got through")
		}
		// The mux redials and works again.
		deadline := time.Now().Add(stressDeadline)
		for {
			sent, got, err := stressOp(h, 7)
			if err == nil && bytes.Equal(got, sent) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mux did not recover after the link drops: %d of %d bytes, %v", len(got), len(sent), err)
			}
		}
		if d := h.dials.Load(); d < 2 {
			t.Errorf("serial link dialed %d times after %d drops", d, drops)
		}
	})

	t.Run("close under load", func(t *testing.T) {
		var ok atomic.Int64
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			for ok.Load() < int64(workers) {
				time.Sleep(time.Millisecond)
			}
			h.mux.Close()
		}()
		runWorkers(t, workers, func(w int) {
			for i := 0; ; i++ {
				sent, got, err := stressOp(h, uint64(200000+w*1000+i))
				if !bytes.HasPrefix(sent, got) {
					t.Errorf("worker %d op %d: read back %d bytes that are not a prefix of the %d sent", w, i, len(got), len(sent))
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("worker %d op %d: hung for %v", w, i, stressDeadline)
					return
				}
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) || errors.Is(err, ErrNoListener) || errors.Is(err, os.ErrNotExist) || errors.Is(err, net.ErrClosed) {
						return // the mux is gone
					}
					select {
					case <-closed:
						return
					default:
					}
				}
				if len(got) == len(sent) && err == nil {
					ok.Add(1)
				}
			}
		})
		<-closed
		if _, err := os.Stat(h.uds); !os.IsNotExist(err) {
			t.Errorf("socket file left after Close: %v", err)
		}
	})
}
