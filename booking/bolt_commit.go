package booking

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// This file is the BoltStore's group commit: writes queue, one of them
// leads, and the leader decides a batch, syncs it to the journal in one
// frame and hands out the outcomes; and the catch-up that brings the bbolt
// file up to date with the journal in the background.

const (
	// maxFrame bounds the records of one frame, in bytes, whatever
	// MaxBatchSize says (a frame must fit in the journal many times).
	maxFrame = 256 << 10

	// applyDelay and applyEvery say when the bbolt file takes the
	// journal's records: this long after the first one not yet in it, or
	// once this many wait. Rarely enough that bbolt's two syncs per
	// commit hardly compete with the journal's (a lone client books every
	// 0.2 ms), often enough that the journal is seldom full and a restart
	// replays little.
	applyDelay = 50 * time.Millisecond
	applyEvery = 4096
)

// errLead is what a waiting write is sent when it is to lead: run the next
// batch.
var errLead = errors.New("booking: lead the next batch")

// A boltWrite is one Book or Unbook waiting for its sync.
type boltWrite struct {
	rec   journalRecord
	limit int
	done  chan error // its outcome, or errLead
}

// size is what w adds to a frame.
func (w *boltWrite) size() int { return recordHeader + len(w.rec.room) }

// submit queues w and waits for its outcome. There is no committer
// goroutine and no timer: a write that finds no leader leads, so a lone
// writer runs its own batch at once on its own goroutine, and a leader
// that finds writes waiting when its batch is done hands the lead to the
// first of them (which wakes for that instead of for its outcome).
func (s *BoltStore) submit(w *boltWrite) error {
	w.done = make(chan error, 1)
	s.mu.Lock()
	s.pending = append(s.pending, w)
	lead := !s.leading
	s.leading = true
	s.mu.Unlock()
	if lead {
		s.lead()
	}
	for {
		err := <-w.done
		if err != errLead {
			return err
		}
		s.lead()
	}
}

// lead runs one batch, then hands the lead on or gives it up.
func (s *BoltStore) lead() {
	s.run(s.take())
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.leading = false
		s.mu.Unlock()
		return
	}
	next := s.pending[0]
	s.mu.Unlock()
	next.done <- errLead
}

// take removes the next batch from the queue: at most maxBatch writes and
// maxFrame bytes of records, and no more than an empty journal holds.
func (s *BoltStore) take() []*boltWrite {
	limit := min(maxFrame, int(s.journal.size-journalStart-frameHeader))
	s.mu.Lock()
	defer s.mu.Unlock()
	n, bytes := 0, 0
	for n < len(s.pending) && n < s.maxBatch {
		bytes += s.pending[n].size()
		if n > 0 && bytes > limit {
			break
		}
		n++
	}
	s.batch = append(s.batch[:0], s.pending[:n]...)
	clear(s.pending[:n])
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.pending = s.pending[:0:0] // let the array go; appends start afresh
	}
	return s.batch
}

// run decides every write of batch against next, syncs the accepted ones
// to the journal in one frame, makes them visible in onDisk and queues
// them for the file, and only then hands out every outcome, refusals
// included: a refusal may rest on a write of the same batch, which must be
// on disk before anyone hears of it. When the frame cannot be written,
// next is put back and every write of the batch gets the error.
func (s *BoltStore) run(batch []*boltWrite) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed.Load() {
		deliverErr(batch, fmt.Errorf("%w: the store was closed", ErrClosed))
		return
	}
	if err := s.catchUp.failed(); err != nil {
		// The file did not take the last writes (a full disk, say): try
		// again, and acknowledge nothing more until it does.
		if err := s.catchUp.apply(); err != nil {
			deliverErr(batch, err)
			return
		}
	}
	ctx := context.Background()
	j := s.journal
	j.frame()
	outcomes := make([]error, len(batch))
	var accepted []journalRecord
	for i, w := range batch {
		if w.rec.unbook {
			outcomes[i] = s.next.Unbook(ctx, w.rec.room, w.rec.date)
		} else {
			outcomes[i] = s.next.Book(ctx, w.rec.room, w.rec.date, w.limit)
		}
		if outcomes[i] == nil {
			j.buf = appendRecord(j.buf, w.rec)
			accepted = append(accepted, w.rec)
		}
	}
	if len(accepted) > 0 {
		if err := s.sync(); err != nil {
			s.undo(accepted)
			deliverErr(batch, err)
			return
		}
		for _, r := range accepted {
			if r.unbook {
				_ = s.onDisk.Unbook(ctx, r.room, r.date)
			} else {
				_ = s.onDisk.Book(ctx, r.room, r.date, math.MaxInt)
			}
		}
		s.catchUp.add(accepted)
	}
	for i, w := range batch {
		w.done <- outcomes[i]
	}
}

// sync writes the frame built in the journal, first emptying the journal
// when the frame does not fit (which needs the file to take every record
// the journal holds).
func (s *BoltStore) sync() error {
	j := s.journal
	if !j.fits(len(j.buf) - frameHeader) {
		if err := s.catchUp.apply(); err != nil {
			return err
		}
		if err := j.empty(); err != nil {
			return err
		}
	}
	return j.commit()
}

// undo takes accepted, decided on next but not synced, back out of next,
// last first.
func (s *BoltStore) undo(accepted []journalRecord) {
	ctx := context.Background()
	for i := len(accepted) - 1; i >= 0; i-- {
		r := accepted[i]
		if r.unbook {
			_ = s.next.Book(ctx, r.room, r.date, math.MaxInt)
		} else {
			_ = s.next.Unbook(ctx, r.room, r.date)
		}
	}
}

// deliverErr gives every write of batch err.
func deliverErr(batch []*boltWrite, err error) {
	for _, w := range batch {
		w.done <- err
	}
}

// catchUp brings a BoltStore's file up to date with its journal: the
// records synced but not yet in the file, applied in one bbolt transaction
// at a time, by its goroutine (every applyDelay or applyEvery records) or
// by the commit leader when it needs them in (a full journal, a failure to
// retry) and by Close.
type catchUp struct {
	s        *BoltStore
	replayed int // records OpenBolt replayed

	applying sync.Mutex // one apply at a time

	mu        sync.Mutex // guards the fields below
	unapplied []journalRecord
	err       error // the last apply's failure; nil once one succeeds

	kick  chan struct{}
	quit  chan struct{}
	timer *time.Timer
	wg    sync.WaitGroup
}

// start starts the goroutine.
func (c *catchUp) start(s *BoltStore) {
	c.s = s
	c.kick = make(chan struct{}, 1)
	c.quit = make(chan struct{})
	c.timer = time.AfterFunc(time.Hour, c.wake)
	c.timer.Stop()
	c.wg.Go(func() {
		for {
			select {
			case <-c.kick:
				_ = c.apply()
			case <-c.quit:
				return
			}
		}
	})
}

// wake asks the goroutine to apply.
func (c *catchUp) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// stop stops the goroutine (an apply in progress finishes first).
func (c *catchUp) stop() {
	c.timer.Stop()
	close(c.quit)
	c.wg.Wait()
}

// add queues records synced to the journal.
func (c *catchUp) add(recs []journalRecord) {
	c.mu.Lock()
	first := len(c.unapplied) == 0
	c.unapplied = append(c.unapplied, recs...)
	many := len(c.unapplied) >= applyEvery
	c.mu.Unlock()
	switch {
	case many:
		c.wake()
	case first:
		c.timer.Reset(applyDelay)
	}
}

// failed returns the last apply's error, if it failed.
func (c *catchUp) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// apply applies every record queued before the call to the file, in one
// transaction, and returns its error (also kept for failed).
func (c *catchUp) apply() error {
	c.applying.Lock()
	defer c.applying.Unlock()
	c.mu.Lock()
	recs := c.unapplied
	c.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	err := c.s.db.Update(func(tx *bolt.Tx) error { return applyRecords(tx, recs) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.err = fmt.Errorf("booking: the database file did not take the journal's writes: %w", err)
		return c.err
	}
	c.err = nil
	c.unapplied = append(c.unapplied[:0:0], c.unapplied[len(recs):]...)
	if len(c.unapplied) > 0 {
		c.timer.Reset(applyDelay)
	}
	return nil
}
