package booking

import "os"

// SetNewJournalSize makes the journals made from now on size bytes long
// (at least the headers' 1 KiB), so that tests fill one quickly; it
// returns a function that restores the default.
func SetNewJournalSize(size int64) (restore func()) {
	old := newJournalSize
	newJournalSize = size
	return func() { newJournalSize = old }
}

// CatchUp brings s's file up to date with its journal now, as the
// background catch-up does, and returns its error. Once it returns, and
// until the next write, the file does not change.
func CatchUp(s *BoltStore) error { return s.catchUp.apply() }

// PauseCatchUp keeps s's file from taking the journal's records (an
// apply in progress finishes first) until resume is called, so that a
// test can copy the file while writes go on. A write that finds the
// journal full waits for resume too.
func PauseCatchUp(s *BoltStore) (resume func()) {
	s.catchUp.applying.Lock()
	return s.catchUp.applying.Unlock
}

// HoldBatches keeps s's commit leader from deciding its next batch until
// release is called: writes submitted meanwhile queue behind it.
func HoldBatches(s *BoltStore) (release func()) {
	s.life.Lock()
	return s.life.Unlock
}

// Queue reports whether a writer of s is leading batches, and how many
// writes wait for one (not counting the batch the leader took).
func Queue(s *BoltStore) (leading bool, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading, len(s.pending)
}

// BreakJournal makes every write to s's journal fail, as a disk that
// refuses them would, by putting a read-only handle on the journal in
// place of the store's own, until restore puts it back. Call both while no
// write is being synced (or while HoldBatches holds them).
func BreakJournal(s *BoltStore) (restore func(), err error) {
	ro, err := os.Open(s.journal.path)
	if err != nil {
		return nil, err
	}
	own := s.journal.f
	s.journal.f = ro
	return func() {
		s.journal.f = own
		_ = ro.Close()
	}, nil
}
