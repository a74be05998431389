package booking_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// TestReplyOutcome: every reply a Service sends has the outcome its
// meaning gives; a query that finds nothing is not an error.
func TestReplyOutcome(t *testing.T) {
	ctx := context.Background()
	dec1 := date(2026, 12, 1)
	store := booking.NewMemoryStore()
	require.NoError(t, store.Book(ctx, "312", dec1, booking.MaxBookingsPerDay))
	svc := newService(t, store)
	failing := newService(t, failingStore{err: errors.New("disk on fire")})
	closed := newService(t, booking.NewMemoryStore())
	require.NoError(t, closed.Close())

	req := func(action, room string, d wire.Date) []byte {
		b, err := wire.Request{Action: action, Room: room, Date: d}.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name string
		svc  *booking.Service
		req  []byte
		want booking.Outcome
	}{
		{"book", svc, req(wire.ActionBook, "313", dec1), booking.OutcomeOK},
		{"bookings on a date", svc, req(wire.ActionBookingsOnDate, "", dec1), booking.OutcomeOK},
		{"bookings for a room", svc, req(wire.ActionBookingsForRoom, "312", 0), booking.OutcomeOK},
		{"no rooms on a date", svc, req(wire.ActionBookingsOnDate, "", dec1+1), booking.OutcomeEmpty},
		{"room not booked", svc, req(wire.ActionBookingsForRoom, "334", 0), booking.OutcomeEmpty},
		{"duplicate", svc, req(wire.ActionBook, "312", dec1), booking.OutcomeRefused},
		{"unbook nonexistent", svc, req(wire.ActionUnbook, "101", dec1), booking.OutcomeRefused},
		{"invalid room", svc, req(wire.ActionBook, "9x9", dec1), booking.OutcomeRefused},
		{"invalid room in a query", svc, req(wire.ActionBookingsForRoom, "9x9", 0), booking.OutcomeRefused},
		{"past date", svc, req(wire.ActionBook, "101", date(2020, 1, 1)), booking.OutcomeRefused},
		{"past the horizon", svc, req(wire.ActionBook, "101", date(2040, 1, 1)), booking.OutcomeRefused},
		{"null date", svc, req(wire.ActionBookingsOnDate, "", 0), booking.OutcomeRefused},
		{"unknown action", svc, req("FROB", "", 0), booking.OutcomeRefused},
		{"malformed", svc, []byte{0, 0, 0, 3}, booking.OutcomeRefused},
		{"store failed on BOOK", failing, req(wire.ActionBook, "101", dec1), booking.OutcomeError},
		{"store failed on UNBOOK", failing, req(wire.ActionUnbook, "101", dec1), booking.OutcomeError},
		{"store failed on a query", failing, req(wire.ActionBookingsForRoom, "101", 0), booking.OutcomeError},
		{"store closed", closed, req(wire.ActionBook, "101", dec1), booking.OutcomeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := tc.svc.ServeFrame(ctx, tc.req)
			assert.Equal(t, tc.want, booking.ReplyOutcome(tc.req, reply), "%q", reply)
		})
	}

	for _, tc := range []struct {
		msg  string
		want booking.Outcome
	}{
		{wire.MsgInternal, booking.OutcomeError},
		{booking.MsgReplyTooLarge, booking.OutcomeError},
		{"room 312 is not booked", booking.OutcomeRefused}, // not the answer to this request
	} {
		got := booking.ReplyOutcome(req(wire.ActionBookingsForRoom, "313", 0), wire.ErrorBlock(tc.msg))
		assert.Equal(t, tc.want, got, tc.msg)
	}
	assert.Equal(t, booking.OutcomeError, booking.ReplyOutcome(nil, append(wire.ErrorBlock("x"), 1)), "a block that does not decode")
	assert.Equal(t, "empty", booking.OutcomeEmpty.String())
}
