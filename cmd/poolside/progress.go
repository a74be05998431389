package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
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
	bar *progressbar.ProgressBar // nil for plain lines
	w   io.Writer

	// live, if not nil, is read every second for the status after the
	// label: the last second's req/s, errors and p99, and the time left.
	live *load.Live
	// what names the command in plain lines ("bench").
	what string

	mu        sync.Mutex
	total     time.Duration // the bar's length
	done      time.Duration // expected time of the steps finished
	stepStart time.Time     // zero until the first step
	expected  time.Duration // expected time of the step in progress
	label     string        // the step's
	status    string        // the last second's figures
	lastLine  time.Time     // when the last plain line was written

	quit, finished chan struct{}
}

// startProgress draws a progress bar on w over total and starts its
// ticker, which ends with ctx or stop.
func startProgress(ctx context.Context, w io.Writer, total time.Duration) *progress {
	p := newProgress(w, total)
	go p.tick(ctx)
	return p
}

// newProgress makes the bar of startProgress, without its ticker.
func newProgress(w io.Writer, total time.Duration) *progress {
	return &progress{
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
	if p.bar != nil {
		p.bar.ChangeMax64(int64(total / time.Millisecond))
	}
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
	p.done, p.stepStart, p.expected, p.label = done, time.Now(), expected, label
	p.describe()
}

// describe puts the label and the status on the bar. Call it with mu
// held.
func (p *progress) describe() {
	if p.bar == nil {
		return
	}
	d := p.label
	if p.status != "" {
		d += " " + p.status
	}
	p.bar.Describe(d)
}

// plainEvery is how often plain progress lines are written; tests shorten
// it.
var plainEvery = 10 * time.Second

// startLiveProgress reports the progress of a run of total expected time
// on w: a bar (startProgress) when terminal is set, plain lines every
// plainEvery otherwise, each with the last second of live, which may be
// nil. what names the command in the plain lines.
func startLiveProgress(ctx context.Context, w io.Writer, total time.Duration, live *load.Live, terminal bool, what string) *progress {
	if terminal {
		p := newProgress(w, total)
		p.live, p.what = live, what
		go p.tick(ctx)
		return p
	}
	p := &progress{w: w, total: total, live: live, what: what, lastLine: time.Now(), quit: make(chan struct{}), finished: make(chan struct{})}
	go p.tick(ctx)
	return p
}

// sample reads the last second of live into the status, and writes a
// plain line when one is due. Call it with mu held.
func (p *progress) sample(now time.Time) {
	if p.live != nil {
		s := p.live.Take()
		p.status = fmt.Sprintf("%s req/s, %d %s, p99 %s", textfmt.Rate(s.RPS()), s.Errors, textfmt.PluralWord(int(s.Errors), "error", "errors"), p99Text(s))
	}
	if p.stepStart.IsZero() {
		return
	}
	left := p.total - p.position()
	status := p.status
	if status != "" {
		status = "; " + status
	}
	if p.bar != nil {
		if p.live != nil {
			p.status += fmt.Sprintf(", %s left", textfmt.Seconds(left))
		}
		p.describe()
		return
	}
	if now.Sub(p.lastLine) >= plainEvery {
		p.lastLine = now
		fmt.Fprintf(p.w, "poolside %s: %s: %.0f%% done, about %s left%s\n", p.what, strings.TrimSpace(p.label),
			100*float64(p.position())/float64(max(p.total, 1)), textfmt.Seconds(left), strings.Replace(status, "; ", "; last second: ", 1))
	}
}

// p99Text is s's p99, or "-" without a reply in the second.
func p99Text(s load.LiveSample) string {
	if s.OK == 0 {
		return "-"
	}
	return "≤" + textfmt.Duration(s.P99)
}

// tick moves the bar on every 100ms until quit is closed or ctx ends.
func (p *progress) tick(ctx context.Context) {
	defer close(p.finished)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	lastSample := time.Now()
	for {
		select {
		case now := <-t.C:
			p.mu.Lock()
			if now.Sub(lastSample) >= time.Second {
				lastSample = now
				p.sample(now)
			}
			if !p.stepStart.IsZero() && p.bar != nil {
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
	if p.bar == nil {
		return
	}
	if completed {
		_ = p.bar.Finish() // draws the full bar: the bar always renders its end
	}
	// The bar draws itself with a carriage return first: blank the line
	// and return to its start.
	if n := utf8.RuneCountInString(p.bar.String()); n > 0 {
		_, _ = io.WriteString(p.w, "\r"+strings.Repeat(" ", n)+"\r")
	}
}
