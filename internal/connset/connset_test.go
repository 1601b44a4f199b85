package connset

import (
	"sync"
	"sync/atomic"
	"testing"
)

type closer struct{ n *atomic.Int32 }

func (c closer) Close() error { c.n.Add(1); return nil }

func TestCloseEndsEveryRecordedConnectionAndRefusesLaterOnes(t *testing.T) {
	var s Set
	var closed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &closer{&closed}
			if s.Add(c) && i%5 == 0 {
				s.Remove(c) // removed ones are not closed by the set
				c.Close()
			}
		}()
	}
	wg.Wait()
	if !s.Close() {
		t.Fatal("first Close reported the set already closed")
	}
	if s.Close() {
		t.Error("second Close reported closing again")
	}
	if got := closed.Load(); got != 50 {
		t.Errorf("%d of 50 connections closed", got)
	}
	if s.Add(&closer{&closed}) {
		t.Error("Add after Close was accepted")
	}
}
