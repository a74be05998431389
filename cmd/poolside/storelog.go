package main

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/poolside-dev/poolside/booking"
)

// storeLogInterval is the least time between two log lines about a failing
// store, so that a full disk under load does not flood the log.
const storeLogInterval = 10 * time.Second

// storeFailures is serve's booking.Config.OnStoreError: the booking
// service answers the client itself, and this tells the operator. It logs
// the first failure at once, then at most one line every storeLogInterval
// with the number of failures since the line before. (The service counts
// them, for poolside_store_errors_total.)
type storeFailures struct {
	log  logrus.FieldLogger
	data string // the bbolt file, or "" for the memory store

	every  rate.Sometimes
	failed atomic.Uint64 // failures not yet in a log line
}

func newStoreFailures(log logrus.FieldLogger, data string) *storeFailures {
	return &storeFailures{log: log, data: data, every: rate.Sometimes{Interval: storeLogInterval}}
}

// hook is the function for booking.Config.OnStoreError.
func (s *storeFailures) hook(action string, err error) {
	if errors.Is(err, booking.ErrClosed) {
		return // a request that raced the store's close at shutdown
	}
	s.failed.Add(1)
	s.every.Do(func() {
		fields := logrus.Fields{"action": action, "failures": s.failed.Swap(0)}
		if s.data != "" {
			fields["data"] = s.data
		}
		s.log.WithError(err).WithFields(fields).Error(storeFailureMessage(err, s.data))
	})
}

// storeFailureMessage says what a store error means for the operator.
// failures in the log line counts the failed requests since the line
// before.
func storeFailureMessage(err error, data string) string {
	const after = "clients are told their requests were not done, and nothing acknowledged is lost; " +
		"bookings succeed again, with no restart, once the cause is gone (logged at most every %s)"
	switch {
	case errors.Is(err, booking.ErrInDoubt):
		return fmt.Sprintf("the database connection broke, or --db-timeout passed, while a request was being committed: its client was told the outcome is in doubt and that a query settles it (logged at most every %s)", storeLogInterval)
	case errors.Is(err, booking.ErrUnavailable):
		return fmt.Sprintf("the database cannot be reached or did not answer within --db-timeout: clients are told their requests were not done and may retry; "+
			"the server tries the database every 250ms and books again by itself once it answers (logged at most every %s)", storeLogInterval)
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Sprintf("the disk holding %s is full: free some space; "+after, data, storeLogInterval)
	}
	return fmt.Sprintf("the booking store failed (a full disk says \"no space left on device\", a file size limit \"file too large\"): "+after, storeLogInterval)
}
