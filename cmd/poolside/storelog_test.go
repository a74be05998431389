package main

import (
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/poolside-dev/poolside/booking"
)

func TestStoreFailuresLog(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.Out = io.Discard
	s := newStoreFailures(log, "/srv/p.db")
	full := fmt.Errorf("booking: bolt: book 312 on 2030-12-01: write /srv/p.db: %w", syscall.ENOSPC)

	s.hook("BOOK", full)
	require.Len(t, hook.AllEntries(), 1, "the first failure is logged at once")
	e := hook.LastEntry()
	assert.Equal(t, logrus.ErrorLevel, e.Level)
	assert.Contains(t, e.Message, "the disk holding /srv/p.db is full: free some space")
	assert.Equal(t, full, e.Data[logrus.ErrorKey])
	assert.Equal(t, uint64(1), e.Data["failures"])
	assert.Equal(t, "BOOK", e.Data["action"])

	s.hook("BOOK", full)
	s.hook("UNBOOK", full)
	s.hook("BOOK", fmt.Errorf("%w: BOOK after Close", booking.ErrClosed))
	assert.Len(t, hook.AllEntries(), 1, "then quiet for storeLogInterval")

	s.every = rate.Sometimes{} // as if the interval had passed
	other := fmt.Errorf("booking: bolt: book: file resize error: truncate /srv/p.db: file too large")
	s.hook("BOOK", other)
	require.Len(t, hook.AllEntries(), 2)
	e = hook.LastEntry()
	assert.Equal(t, uint64(3), e.Data["failures"], "the failures since the line before, a closed store not among them")
	assert.Contains(t, e.Message, "the booking store failed")
	assert.Equal(t, "/srv/p.db", e.Data["data"])
}
