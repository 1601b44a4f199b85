package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"banger/internal/humanize"
)

// progressMin is the smallest transfer that gets a progress bar; smaller
// ones finish before a bar would say anything.
const progressMin = 8 << 20

// progressBar draws one self-overwriting line on a terminal. A nil
// *progressBar draws nothing, so callers need not check.
type progressBar struct {
	w     io.Writer
	total int64
	n     atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress returns a bar on w for a transfer of total bytes, or nil
// when w is not a terminal or the transfer is small.
func startProgress(w io.Writer, total int64) *progressBar {
	if total < progressMin || !isTerminal(w) {
		return nil
	}
	p := &progressBar{w: w, total: total, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progressBar) draw() {
	n := p.n.Load()
	frac := min(float64(n)/float64(p.total), 1)
	const width = 30
	fill := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s / %s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, humanize.Bytes(n), humanize.Bytes(p.total))
}

// Reader counts what is read through r.
func (p *progressBar) Reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return countingReader{r, &p.n}
}

// Finish draws the final state and ends the line.
func (p *progressBar) Finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.draw()
	fmt.Fprintln(p.w)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
