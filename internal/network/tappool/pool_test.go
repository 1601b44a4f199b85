package tappool

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"banger/internal/network"
	"banger/internal/network/allotment"
	"banger/internal/privileged"
)

var (
	owner = network.Owner{UID: 1000, Installation: "1111aaaa"}
	// caller is uid 1000 allotted banger0, so tests read as before.
	caller = privileged.Caller{UID: 1000, GID: 1000, Allot: allotment.Allotment{UID: 1000, Bridge: "banger0", Subnet: netip.MustParsePrefix("172.30.0.0/24")}}
)

func newFake(t *testing.T) *privileged.Fake {
	t.Helper()
	f := privileged.NewFake()
	if err := f.EnsureBridge(context.Background(), "banger0", netip.MustParsePrefix("172.30.0.1/24"), owner, true); err != nil {
		t.Fatal(err)
	}
	return f
}

func newPool(t *testing.T, f *privileged.Fake, size int) *Pool {
	t.Helper()
	p, err := New(Options{Ops: privileged.NewFakeOps(caller, f), List: f.ListTAPs, Inspect: f.InspectTAP, Size: size, Owner: owner, GID: 1000, Bridge: "banger0", Retry: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// eventually polls cond for up to a minute, far longer than any of this
// takes on a loaded machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPoolFillsTakesAndRefills(t *testing.T) {
	f := newFake(t)
	p := newPool(t, f, 2)
	p.Start()
	eventually(t, "two idle taps", func() bool { return len(p.Idle()) == 2 })
	for _, name := range p.Idle() {
		if !isPoolName(name) {
			t.Errorf("pool tap name %q is not %s<8 hex>", name, Prefix)
		}
		tap, ok := f.TAP(name)
		if !ok || tap != (privileged.FakeTAP{Owner: owner, GID: 1000, Bridge: "banger0"}) {
			t.Errorf("tap %s = %+v, %v; want owned by 1000:1000 on banger0", name, tap, ok)
		}
	}
	first := p.Idle()[0]
	got, err := p.Take(context.Background())
	if err != nil || got != first {
		t.Fatalf("Take = %q, %v; want the oldest idle tap %q", got, err, first)
	}
	eventually(t, "refill to two", func() bool { return len(p.Idle()) == 2 })
	if slices.Contains(p.Idle(), got) {
		t.Errorf("taken tap %s is still idle", got)
	}
	if err := p.Release(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.TAP(got); ok {
		t.Errorf("released tap %s still exists", got)
	}
	// The pool does not over-fill: once the refill has stopped (Close
	// waits for it), it made exactly 3 TAPs: 2 to fill, 1 to refill.
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countCalls(f, "create-tap"); n != 3 {
		t.Errorf("%d taps created, want 2 to fill and 1 to refill", n)
	}
}

// countCalls counts the fake's calls of operation op.
func countCalls(f *privileged.Fake, op string) int {
	n := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

func TestTakeCreatesSynchronouslyWhenEmpty(t *testing.T) {
	f := newFake(t)
	p := newPool(t, f, 0) // no background refill at all
	p.Start()
	name, err := p.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.TAP(name); !ok {
		t.Errorf("Take returned %s, which does not exist", name)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countCalls(f, "create-tap"); n != 1 {
		t.Errorf("size-0 pool created %d taps for one Take", n)
	}
}

func TestTakeReportsCreationFailure(t *testing.T) {
	f := newFake(t)
	f.Err = func(op, _ string) error {
		if op == "create-tap" {
			return errors.New("sudo -n refused")
		}
		return nil
	}
	p := newPool(t, f, 1)
	_, err := p.Take(context.Background())
	if err == nil || !strings.Contains(err.Error(), "take tap: sudo -n refused") {
		t.Errorf("Take = %v, want the creation error", err)
	}
}

func TestRefillRetriesAfterFailures(t *testing.T) {
	f := newFake(t)
	var failures atomic.Int32
	f.Err = func(op, _ string) error {
		if op == "create-tap" && failures.Add(1) <= 3 {
			return errors.New("transient")
		}
		return nil
	}
	p := newPool(t, f, 2)
	p.Start()
	eventually(t, "fill despite failures", func() bool { return len(p.Idle()) == 2 })
	if n := failures.Load(); n != 5 {
		t.Errorf("%d create attempts, want 3 failed + 2 good", n)
	}
}

func TestCloseDeletesIdleKeepsTaken(t *testing.T) {
	f := newFake(t)
	p := newPool(t, f, 3)
	p.Start()
	eventually(t, "three idle taps", func() bool { return len(p.Idle()) == 3 })
	taken, err := p.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	names, _ := f.ListTAPs(Prefix)
	if len(names) != 1 || names[0] != taken {
		t.Errorf("after Close taps are %v, want only the taken %s", names, taken)
	}
	if _, err := p.Take(context.Background()); err == nil {
		t.Errorf("Take after Close succeeded")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestCleanupRemovesOnlyUnreferencedPoolTaps(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	for _, n := range []string{"bgt-1111aaaa", "bgt-2222bbbb", "bgt-custom", "vnet0"} {
		if err := f.CreateTAP(context.Background(), n, owner, 1000, "banger0"); err != nil {
			t.Fatal(err)
		}
	}
	// Leftover-shaped TAPs of another installation and another user.
	for n, o := range map[string]network.Owner{
		"bgt-3333cccc": {UID: 1000, Installation: "1111bbbb"},
		"bgt-4444dddd": {UID: 2000, Installation: "2222aaaa"},
	} {
		if err := f.CreateTAP(context.Background(), n, o, o.UID, "banger0"); err != nil {
			t.Fatal(err)
		}
	}
	p := newPool(t, f, 1)
	p.Start()
	eventually(t, "one idle tap", func() bool { return len(p.Idle()) == 1 })
	idle := p.Idle()[0]
	taken, err := p.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "refill", func() bool { return len(p.Idle()) == 1 })
	if err := p.Cleanup(ctx, map[string]bool{"bgt-2222bbbb": true}); err != nil {
		t.Fatal(err)
	}
	names, _ := f.ListTAPs("")
	want := []string{"bgt-2222bbbb", "bgt-3333cccc", "bgt-4444dddd", "bgt-custom", p.Idle()[0], taken, "vnet0"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("after Cleanup taps are %v, want %v (stray bgt-1111aaaa gone)", names, want)
	}
	if taken != idle {
		t.Errorf("Take did not hand out the idle tap")
	}
}

func TestConcurrentTakesAreUnique(t *testing.T) {
	f := newFake(t)
	p := newPool(t, f, 2)
	p.Start()
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := p.Take(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[name] {
				t.Errorf("tap %s handed out twice", name)
			}
			seen[name] = true
		}()
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("%d distinct taps for 20 takes", len(seen))
	}
}

func TestNewValidates(t *testing.T) {
	f := newFake(t)
	for name, o := range map[string]Options{
		"no ops":     {Bridge: "banger0", Owner: owner},
		"negative":   {Ops: privileged.NewFakeOps(caller, f), Size: -1, Bridge: "banger0", Owner: owner},
		"bad bridge": {Ops: privileged.NewFakeOps(caller, f), Bridge: "bad bridge", Owner: owner},
		"no owner":   {Ops: privileged.NewFakeOps(caller, f), Bridge: "banger0"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}

// TestTakeDropsAnIdleTapDeletedBehindItsBack: a pool TAP that another
// process deleted (or replaced) is never handed to a VMM.
func TestTakeDropsAnIdleTapDeletedBehindItsBack(t *testing.T) {
	f := newFake(t)
	p := newPool(t, f, 1)
	p.Start()
	eventually(t, "one idle tap", func() bool { return len(p.Idle()) == 1 })
	dead := p.Idle()[0]
	if err := f.DeleteTAP(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	got, err := p.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got == dead {
		t.Fatalf("Take handed out %s, which no longer exists", dead)
	}
	if _, ok := f.TAP(got); !ok {
		t.Errorf("Take handed out %s, which does not exist", got)
	}
}

// TestPoolStress runs many takers against a small pool that refills in the
// background, with Cleanup, Idle and Start running beside them, as the
// daemon's reconcile may. Under -race it also checks the pool's locking.
// Every TAP handed out must exist, be the pool's, be held by one taker
// only, and survive Cleanup while held; at the end every TAP the pool
// created has been deleted exactly once.
func TestPoolStress(t *testing.T) {
	const workers, iterations = 16, 150
	f := newFake(t)
	p := newPool(t, f, 4)
	p.Start()
	ctx := context.Background()

	var (
		mu   sync.Mutex
		held = map[string]bool{}
		wg   sync.WaitGroup
	)
	heldNow := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(held)
	}
	checkTAP := func(name, when string) bool {
		tap, ok := f.TAP(name)
		if !ok || tap.Owner != owner || tap.Bridge != "banger0" {
			t.Errorf("%s: tap %s = %+v, exists %v; want the pool's tap on banger0", when, name, tap, ok)
			return false
		}
		return true
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				name, err := p.Take(ctx)
				if err != nil {
					t.Errorf("worker %d take %d: %v", w, i, err)
					return
				}
				mu.Lock()
				dup := held[name]
				held[name] = true
				mu.Unlock()
				if dup {
					t.Errorf("tap %s handed out while another taker holds it", name)
					return
				}
				ok := checkTAP(name, "after Take")
				runtime.Gosched()
				ok = ok && checkTAP(name, "while held")
				mu.Lock()
				delete(held, name)
				mu.Unlock()
				if err := p.Release(ctx, name); err != nil {
					t.Errorf("release %s: %v", name, err)
				}
				if !ok {
					return
				}
			}
		}()
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			p.Start()
			before := heldNow()
			for _, name := range p.Idle() {
				if before[name] {
					t.Errorf("tap %s is idle while a taker still holds it", name)
				}
			}
			if err := p.Cleanup(ctx, nil); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()

	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if names, _ := f.ListTAPs(Prefix); len(names) != 0 {
		t.Errorf("taps left after every release and Close: %v", names)
	}
	created, deleted := countCalls(f, "create-tap"), countCalls(f, "delete-tap")
	if created < workers*iterations || deleted != created {
		t.Errorf("%d taps created and %d deletions; want at least %d created, each deleted once", created, deleted, workers*iterations)
	}
}
