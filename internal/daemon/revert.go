package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// revert collects undo steps of a multi-step operation and runs them in
// reverse unless the operation succeeded, so nothing half-built is left.
type revert struct {
	log   *slog.Logger
	steps []revertStep
	done  bool
}

type revertStep struct {
	name string
	fn   func(context.Context) error
}

func (r *revert) add(name string, fn func(context.Context) error) {
	r.steps = append(r.steps, revertStep{name, fn})
}

// success keeps everything that was built.
func (r *revert) success() { r.done = true }

// run undoes the steps (if success was not called) and returns the steps'
// errors joined. Every step runs even when an earlier one failed. It uses a
// context that is not cancelled with the request, because undo must finish
// even when the client went away.
func (r *revert) run(ctx context.Context) error {
	if r.done {
		return nil
	}
	r.done = true
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i := len(r.steps) - 1; i >= 0; i-- {
		if err := r.steps[i].fn(ctx); err != nil {
			r.log.Warn("undo step failed", "step", r.steps[i].name, "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", r.steps[i].name, err))
		}
	}
	return errors.Join(errs...)
}
