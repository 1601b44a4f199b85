// Package doctor runs banger's readiness checks: each host capability
// contributes checks that report pass, warn or fail with a one-line fix.
// Checks only observe; they never change the host.
package doctor

import (
	"context"
	"sync"
	"time"
)

// Status of one check.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is the outcome of one check.
type Result struct {
	Name    string `json:"name"`
	Group   string `json:"group"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Check is one readiness check.
type Check interface {
	Name() string
	Group() string
	Run(ctx context.Context) Result
}

// Func adapts a function to a Check.
type Func struct {
	CheckName  string
	CheckGroup string
	Fn         func(ctx context.Context) (Status, string, string)
}

func (f Func) Name() string  { return f.CheckName }
func (f Func) Group() string { return f.CheckGroup }
func (f Func) Run(ctx context.Context) Result {
	st, msg, fix := f.Fn(ctx)
	return Result{Name: f.CheckName, Group: f.CheckGroup, Status: st, Message: msg, Fix: fix}
}

// Run runs checks concurrently (each with a timeout) and returns results in
// the order given.
func Run(ctx context.Context, checks []Check) []Result {
	out := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func(i int, c Check) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			done := make(chan Result, 1)
			go func() { done <- c.Run(cctx) }()
			select {
			case r := <-done:
				out[i] = r
			case <-cctx.Done():
				out[i] = Result{Name: c.Name(), Group: c.Group(), Status: Fail, Message: "check timed out"}
			}
		}(i, c)
	}
	wg.Wait()
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}
