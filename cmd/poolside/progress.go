package main

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// showProgress reports whether a command draws its progress bar on w,
// its standard error: only on a terminal. Tests replace it.
var showProgress = isTerminal

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a progress bar over the expected time of a run made of
// steps. The caller reports the start of each step; in between, a ticker
// moves the bar on with the time the step has taken, up to the time it is
// expected to take, short of the end: only stop fills the bar, so that a
// run that takes longer than expected does not leave a full bar standing
// still. Its methods are safe for concurrent use.
type progress struct {
	bar *progressbar.ProgressBar
	w   io.Writer

	mu        sync.Mutex
	total     time.Duration // the bar's length
	done      time.Duration // expected time of the steps finished
	stepStart time.Time     // zero until the first step
	expected  time.Duration // expected time of the step in progress

	quit, finished chan struct{}
}

// startProgress draws a progress bar on w over total and starts its
// ticker, which ends with ctx or stop.
func startProgress(ctx context.Context, w io.Writer, total time.Duration) *progress {
	p := &progress{
		// The bar is cleared by stop, after it is drawn full.
		bar: progressbar.NewOptions64(int64(total/time.Millisecond),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(false),
		),
		w:        w,
		total:    total,
		quit:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go p.tick(ctx)
	return p
}

// rescale sets the bar's length to total, as a run learns that it needs
// fewer (or more) steps than it first expected.
func (p *progress) rescale(total time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == p.total {
		return
	}
	p.total = total
	p.bar.ChangeMax64(int64(total / time.Millisecond))
}

// position is where the bar stands: the expected time of the steps
// finished and of the time the step in progress has taken, short of the
// bar's end. Call it with mu held.
func (p *progress) position() time.Duration {
	return min(p.done+min(time.Since(p.stepStart), p.expected), p.total-time.Millisecond)
}

// step marks the start of a step, labelled label, expected to take
// expected after done of the total has been spent on the steps before.
func (p *progress) step(done, expected time.Duration, label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.stepStart, p.expected = done, time.Now(), expected
	p.bar.Describe(label)
}

// tick moves the bar on every 100ms until quit is closed or ctx ends.
func (p *progress) tick(ctx context.Context) {
	defer close(p.finished)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.mu.Lock()
			if !p.stepStart.IsZero() {
				_ = p.bar.Set64(int64(p.position() / time.Millisecond))
			}
			p.mu.Unlock()
		case <-p.quit:
			return
		case <-ctx.Done():
			return
		}
	}
}

// stop ends the ticker and removes the bar, after drawing it full if the
// run completed. Call it once.
func (p *progress) stop(completed bool) {
	close(p.quit)
	<-p.finished
	if completed {
		_ = p.bar.Finish() // draws the full bar: the bar always renders its end
	}
	// The bar draws itself with a carriage return first: blank the line
	// and return to its start.
	if n := utf8.RuneCountInString(p.bar.String()); n > 0 {
		_, _ = io.WriteString(p.w, "\r"+strings.Repeat(" ", n)+"\r")
	}
}
