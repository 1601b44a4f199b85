package bootlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"
	"syscall"
)

// Output is one stream the pump copies: In until EOF, into Path.
type Output struct {
	In   io.Reader
	Path string
}

// Options configures Run.
type Options struct {
	// MaxBytes caps each output file (before the final marker line);
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	// OnPowerDown, when set, is called once (in its own goroutine) the
	// first time an input carries the guest kernel's power-off line.
	OnPowerDown func()
}

// Run copies every output until each input reaches EOF, then returns. A
// write error (disk full) stops writing that file but not reading its
// input, so the VMM never blocks on a pipe nobody drains.
func Run(outs []Output, opts Options) error {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	var once sync.Once
	powerDown := func() {
		if opts.OnPowerDown != nil {
			once.Do(func() { go opts.OnPowerDown() })
		}
	}
	errs := make([]error, len(outs))
	var wg sync.WaitGroup
	for i, o := range outs {
		// O_NOFOLLOW: the VM directory is the user's, but a link planted
		// there must not redirect a guest-controlled stream elsewhere.
		f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			errs[i] = fmt.Errorf("open boot log: %w", err)
			f = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := copyCapped(f, o.In, opts.MaxBytes, powerDown); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("write %s: %w", o.Path, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copyCapped copies in to f (which may be nil: drain only) up to max
// bytes, counts the rest, and writes the drop marker at EOF.
func copyCapped(f *os.File, in io.Reader, max int64, powerDown func()) error {
	var (
		written, dropped int64
		werr             error
		w                lineWatcher
		buf              = make([]byte, 32<<10)
	)
	if f != nil {
		defer f.Close()
	}
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if w.scan(chunk) {
				powerDown()
			}
			keep := min(int64(n), max-written)
			if f != nil && werr == nil && keep > 0 {
				var m int
				m, werr = f.Write(chunk[:keep])
				written += int64(m)
			}
			dropped += int64(n) - keep
		}
		if rerr != nil {
			if dropped > 0 && f != nil && werr == nil {
				_, werr = fmt.Fprintf(f, "\n%s %d bytes dropped after this boot's log reached its cap of %d bytes]\n", DropMarker, dropped, max)
			}
			if errors.Is(rerr, io.EOF) {
				return werr
			}
			return errors.Join(rerr, werr)
		}
	}
}

// DropMarker starts the line the pump appends when it dropped output.
const DropMarker = "[banger logpump:"

// powerDownLine is what the guest kernel prints when it powers off
// (kernel/reboot.c: pr_emerg("Power down\n") with the "reboot: " prefix),
// at emergency level so it reaches the console even with loglevel=3,
// optionally after a printk timestamp. Serial lines end in "\r\n".
var powerDownLine = regexp.MustCompile(`^(\[ *[0-9]+\.[0-9]+\] )?reboot: Power down\r?$`)

// lineWatcher finds powerDownLine in a byte stream split at arbitrary
// points. It remembers at most one short line: a longer line cannot match,
// so a guest flooding one endless line costs no memory.
type lineWatcher struct {
	line [64]byte
	n    int
	long bool
}

func (w *lineWatcher) scan(b []byte) bool {
	hit := false
	for _, c := range b {
		if c == '\n' {
			if !w.long && powerDownLine.Match(w.line[:w.n]) {
				hit = true
			}
			w.n, w.long = 0, false
			continue
		}
		if w.n == len(w.line) {
			w.long = true
			continue
		}
		w.line[w.n] = c
		w.n++
	}
	return hit
}
