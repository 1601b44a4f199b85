// Package tappool keeps a few idle TAP devices ready so that creating a VM
// never waits on TAP creation (which may mean a sudo round trip). It owns
// the lifecycle of pooled TAPs only: creating and deleting them goes through
// Ops (internal/privileged in bangerd), and what a taken TAP is used for is
// the caller's business.
//
// Nothing is persisted. Every TAP this package makes is named Prefix plus 8
// hex digits and tagged with its owner (installation), so after a crash the
// daemon finds its own leftovers and removes those no VM record references
// (Cleanup); TAPs of other installations or users are never touched.
package tappool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"banger/internal/network"
)

// Prefix starts the name of every TAP the pool creates.
const Prefix = "bgt-"

// Ops is the part of privileged.Ops the pool needs.
type Ops interface {
	CreateTAP(ctx context.Context, name string, owner network.Owner, gid int, bridge string) error
	DeleteTAP(ctx context.Context, name string, owner network.Owner) error
}

// Options configure a Pool.
type Options struct {
	Ops Ops
	// List returns existing TAP names with a prefix, everyone's;
	// network.ListTAPs when nil (it needs no privilege).
	List func(prefix string) ([]string, error)
	// Inspect reports a TAP's owner and bridge; network.InspectTAP when nil.
	Inspect func(name string) (network.TAPInfo, error)
	// Size is how many idle TAPs to keep ready; 0 disables the background
	// refill, and Take then always creates synchronously.
	Size   int
	Owner  network.Owner // owner of the TAPs: the installation, whose user the VMM runs as
	GID    int
	Bridge string // bridge the TAPs are enslaved to
	Logger *slog.Logger
	// Retry is the pause after a failed background creation (default 5s),
	// so a persistent failure (no sudo rule) is not retried in a tight loop.
	Retry time.Duration
}

// Pool is a set of idle TAPs refilled in the background.
type Pool struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	idle    []string
	pending map[string]bool // being created
	taken   map[string]bool // handed out by Take and not yet released
	started bool
	closed  bool

	kick   chan struct{}
	ctx    context.Context // cancelled by Close; bounds background work
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks opts and returns a Pool. It creates nothing until Start (or
// Take) is called.
func New(opts Options) (*Pool, error) {
	if opts.Ops == nil {
		return nil, errors.New("tap pool: no Ops")
	}
	if opts.Size < 0 {
		return nil, fmt.Errorf("tap pool: size %d is negative", opts.Size)
	}
	if err := network.ValidateName(opts.Bridge); err != nil {
		return nil, fmt.Errorf("tap pool: bridge: %w", err)
	}
	if err := opts.Owner.Validate(); err != nil {
		return nil, fmt.Errorf("tap pool: %w", err)
	}
	if opts.List == nil {
		opts.List = network.ListTAPs
	}
	if opts.Inspect == nil {
		opts.Inspect = network.InspectTAP
	}
	if opts.Retry <= 0 {
		opts.Retry = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		opts:    opts,
		log:     log.With("component", "tappool"),
		pending: map[string]bool{},
		taken:   map[string]bool{},
		kick:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}, nil
}

// NewName returns a fresh pool TAP name: Prefix and 8 random hex digits.
func NewName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return Prefix + hex.EncodeToString(b[:])
}

// Start launches the background refill. Calling it again does nothing.
func (p *Pool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	go p.fill()
	p.signal()
}

// Take returns a ready TAP, owned by the pool's user and enslaved to its
// bridge. When no idle TAP is ready it creates one synchronously. The TAP
// belongs to the caller until Release.
//
// An idle TAP is checked before it is handed out: one that was deleted
// behind the pool's back (or replaced by a device of someone else's) is
// dropped, so a VMM never gets a dead or foreign TAP.
func (p *Pool) Take(ctx context.Context) (string, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return "", errors.New("take tap: pool is closed")
		}
		if len(p.idle) == 0 {
			p.mu.Unlock()
			break
		}
		name := p.idle[0]
		p.idle = p.idle[1:]
		p.taken[name] = true
		p.signal()
		p.mu.Unlock()
		if err := p.usable(name); err != nil {
			p.log.Warn("dropping idle tap", "tap", name, "error", err)
			p.mu.Lock()
			delete(p.taken, name)
			p.mu.Unlock()
			continue
		}
		return name, nil
	}

	name, err := p.create(ctx, func(name string) { p.taken[name] = true })
	if err != nil {
		return "", fmt.Errorf("take tap: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signal()
	return name, nil
}

// usable reports why the TAP name cannot be handed out, or nil.
func (p *Pool) usable(name string) error {
	info, err := p.opts.Inspect(name)
	if err != nil {
		return err
	}
	if !info.Tagged || info.Owner != p.opts.Owner || info.Master != p.opts.Bridge {
		return fmt.Errorf("tap %s is no longer this pool's (owner %v, bridge %q)", name, info.Owner, info.Master)
	}
	return nil
}

// Release deletes a TAP that Take handed out. TAPs are not reused: a fresh
// one carries no state (bridge FDB entries, an open queue, a VMM's error
// state) from its last VM.
func (p *Pool) Release(ctx context.Context, name string) error {
	if err := p.opts.Ops.DeleteTAP(ctx, name, p.opts.Owner); err != nil {
		return fmt.Errorf("release tap %s: %w", name, err)
	}
	p.mu.Lock()
	delete(p.taken, name)
	p.mu.Unlock()
	return nil
}

// Idle returns the names of the TAPs ready to be taken.
func (p *Pool) Idle() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.idle)
}

// Close stops the refill, waits for it and deletes the idle TAPs. TAPs that
// were taken are left alone.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()

	p.cancel()
	if started {
		<-p.done
	}
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	var errs []error
	for _, name := range idle {
		if err := p.opts.Ops.DeleteTAP(ctx, name, p.opts.Owner); err != nil {
			errs = append(errs, fmt.Errorf("close tap pool: delete tap %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Cleanup deletes every TAP named like a pool TAP (Prefix and 8 hex
// digits) and tagged with the pool's owner that is neither in inUse (the
// TAPs VM records reference) nor held by this pool (idle, being created, or
// taken and not released). The daemon calls it at startup to remove TAPs
// leaked by a crash. Other owners' TAPs, and untagged ones, are left alone.
func (p *Pool) Cleanup(ctx context.Context, inUse map[string]bool) error {
	names, err := p.Leftovers(inUse)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		p.log.Info("deleting leftover tap", "tap", name)
		if err := p.opts.Ops.DeleteTAP(ctx, name, p.opts.Owner); err != nil {
			errs = append(errs, fmt.Errorf("clean up tap %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the owner's pool TAPs that are neither in inUse nor
// held by the pool. It needs no privilege.
func (p *Pool) Leftovers(inUse map[string]bool) ([]string, error) {
	return leftovers(p.opts, inUse, p.holds)
}

// Leftovers is Pool.Leftovers before a pool exists (the daemon checks for
// leftovers before it sets up networking).
func Leftovers(opts Options, inUse map[string]bool) ([]string, error) {
	if opts.List == nil {
		opts.List = network.ListTAPs
	}
	if opts.Inspect == nil {
		opts.Inspect = network.InspectTAP
	}
	return leftovers(opts, inUse, func(string) bool { return false })
}

func leftovers(opts Options, inUse map[string]bool, held func(string) bool) ([]string, error) {
	names, err := opts.List(Prefix)
	if err != nil {
		return nil, fmt.Errorf("list taps: %w", err)
	}
	var out []string
	for _, name := range names {
		if !isPoolName(name) || inUse[name] || held(name) {
			continue
		}
		if info, err := opts.Inspect(name); err != nil || !info.Tagged || info.Owner != opts.Owner {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}

func (p *Pool) holds(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[name] || p.taken[name] || slices.Contains(p.idle, name)
}

// create makes one new TAP under a name that is not in use. A colliding
// name would make CreateTAP succeed on someone else's identical TAP (it is
// idempotent), so names are checked against the host first. On success
// place records the new TAP (as idle or taken) under the same lock that
// ends its pending state, so Cleanup never sees it unheld.
func (p *Pool) create(ctx context.Context, place func(name string)) (string, error) {
	var name string
	for range 8 {
		candidate := NewName()
		existing, err := p.opts.List(candidate)
		if err != nil {
			return "", err
		}
		p.mu.Lock()
		if !slices.Contains(existing, candidate) && !p.pending[candidate] && !p.taken[candidate] && !slices.Contains(p.idle, candidate) {
			name = candidate
			p.pending[name] = true
		}
		p.mu.Unlock()
		if name != "" {
			break
		}
	}
	if name == "" {
		return "", errors.New("no free tap name after 8 tries")
	}
	err := p.opts.Ops.CreateTAP(ctx, name, p.opts.Owner, p.opts.GID, p.opts.Bridge)
	p.mu.Lock()
	delete(p.pending, name)
	if err == nil {
		place(name)
	}
	p.mu.Unlock()
	if err != nil {
		return "", err
	}
	return name, nil
}

// signal asks the refill goroutine to look again. Called with mu held.
func (p *Pool) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// need is how many TAPs the refill should still create. Called with mu held.
func (p *Pool) need() int { return p.opts.Size - len(p.idle) - len(p.pending) }

func (p *Pool) fill() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
		case <-p.ctx.Done():
			return
		}
		for {
			p.mu.Lock()
			n := p.need()
			p.mu.Unlock()
			if n <= 0 {
				break
			}
			name, err := p.create(p.ctx, func(name string) { p.idle = append(p.idle, name) })
			if err != nil {
				if p.ctx.Err() != nil {
					return
				}
				p.log.Warn("refilling tap pool failed", "error", err, "retry_in", p.opts.Retry)
				select {
				case <-time.After(p.opts.Retry):
					continue
				case <-p.ctx.Done():
					return
				}
			}
			p.log.Debug("tap ready", "tap", name)
		}
	}
}

// isPoolName reports whether name has the pool's naming shape.
func isPoolName(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok || len(rest) != 8 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}
