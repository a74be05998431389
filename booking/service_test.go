package booking_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// booked is a booking a test case puts in the store before its request.
type booked struct {
	room string
	date wire.Date
}

func TestServiceRules(t *testing.T) {
	dec1, dec2 := date(2026, 12, 1), date(2026, 12, 2)
	req := func(action, room string, d wire.Date) wire.Request {
		return wire.Request{Action: action, Room: room, Date: d}
	}
	echo := func(action, room string, d wire.Date) wire.Reply {
		return wire.Reply{Action: action, Room: room, Date: d}
	}
	full := []booked{{"101", dec2}, {"102", dec2}, {"103", dec2}, {"104", dec2}, {"105", dec2}}
	invalidRoom := func(room string) wire.Reply { return wire.ErrorReply(booking.MsgInvalidRoom(room)) }

	cases := []struct {
		name   string
		before []booked
		req    wire.Request
		want   wire.Reply
	}{
		// The book's rules and messages.
		{name: "book", req: req(wire.ActionBook, "312", dec1), want: echo(wire.ActionBook, "312", dec1)},
		{name: "book today", req: req(wire.ActionBook, "312", date(2026, 11, 25)), want: echo(wire.ActionBook, "312", date(2026, 11, 25))},
		{name: "book same room other date", before: []booked{{"312", dec1}}, req: req(wire.ActionBook, "312", dec2), want: echo(wire.ActionBook, "312", dec2)},
		{name: "duplicate", before: []booked{{"312", dec1}}, req: req(wire.ActionBook, "312", dec1), want: wire.ErrorReply("Cannot accept duplicate booking")},
		{name: "fifth booking fits", before: full[:4], req: req(wire.ActionBook, "105", dec2), want: echo(wire.ActionBook, "105", dec2)},
		{name: "fully booked", before: full, req: req(wire.ActionBook, "106", dec2), want: wire.ErrorReply("2026-12-02 is fully booked")},
		{name: "duplicate on a full date", before: full, req: req(wire.ActionBook, "101", dec2), want: wire.ErrorReply(wire.MsgDuplicate)},
		{name: "unbook", before: []booked{{"312", dec1}}, req: req(wire.ActionUnbook, "312", dec1), want: echo(wire.ActionUnbook, "312", dec1)},
		{name: "unbook nonexistent", req: req(wire.ActionUnbook, "312", dec1), want: wire.ErrorReply("Cannot unbook nonexistent booking")},
		{name: "unbook other room", before: []booked{{"312", dec1}}, req: req(wire.ActionUnbook, "313", dec1), want: wire.ErrorReply(wire.MsgNotBooked)},
		{name: "unbook other date", before: []booked{{"312", dec1}}, req: req(wire.ActionUnbook, "312", dec2), want: wire.ErrorReply(wire.MsgNotBooked)},
		{name: "unbook a past date", before: []booked{{"312", date(2026, 11, 1)}}, req: req(wire.ActionUnbook, "312", date(2026, 11, 1)), want: echo(wire.ActionUnbook, "312", date(2026, 11, 1))},
		{
			name:   "bookings on date sorted",
			before: []booked{{"312", dec1}, {"101", dec1}, {"220", dec1}, {"999", dec2}},
			req:    req(wire.ActionBookingsOnDate, "", dec1),
			want:   wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: []string{"101", "220", "312"}, Date: dec1},
		},
		{
			name:   "bookings on date ignores room",
			before: []booked{{"312", dec1}},
			req:    req(wire.ActionBookingsOnDate, "not a room", dec1),
			want:   wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: []string{"312"}, Date: dec1},
		},
		{name: "no rooms on date", before: []booked{{"312", dec2}}, req: req(wire.ActionBookingsOnDate, "312", dec1), want: wire.ErrorReply("there are no rooms booked on 2026-12-01")},
		{
			name:   "bookings for room ascending",
			before: []booked{{"312", date(2027, 1, 5)}, {"312", dec2}, {"312", dec1}, {"313", dec1}},
			req:    req(wire.ActionBookingsForRoom, "312", dec1),
			want:   wire.Reply{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{dec1, dec2, date(2027, 1, 5)}},
		},
		{
			name:   "bookings for room ignores date",
			before: []booked{{"312", dec1}},
			req:    req(wire.ActionBookingsForRoom, "312", 0),
			want:   wire.Reply{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{dec1}},
		},
		{name: "room not booked", before: []booked{{"313", dec1}}, req: req(wire.ActionBookingsForRoom, "312", dec1), want: wire.ErrorReply("room 312 is not booked")},
		{name: "unknown action", req: req("DELETEALL", "312", dec1), want: wire.ErrorReply("Unrecognized request")},
		{name: "lower-case action", req: req("book", "312", dec1), want: wire.ErrorReply(wire.MsgUnrecognized)},

		// Our additions: invalid rooms.
		{name: "book room 9x9", req: req(wire.ActionBook, "9x9", dec1), want: wire.ErrorReply(`Invalid room "9x9": a room is three digits, floor 0-9 then room 01-34, like 312`)},
		{name: "book empty room", req: req(wire.ActionBook, "", dec1), want: invalidRoom("")},
		{name: "book room 00", req: req(wire.ActionBook, "000", dec1), want: invalidRoom("000")},
		{name: "book room 35", req: req(wire.ActionBook, "135", dec1), want: invalidRoom("135")},
		{name: "book four digits", req: req(wire.ActionBook, "1234", dec1), want: invalidRoom("1234")},
		{name: "book arabic-indic digits", req: req(wire.ActionBook, "٣١٢", dec1), want: invalidRoom("٣١٢")},
		{name: "unbook invalid room", req: req(wire.ActionUnbook, "31", dec1), want: invalidRoom("31")},
		{name: "bookings for invalid room", req: req(wire.ActionBookingsForRoom, "3 12", dec1), want: invalidRoom("3 12")},

		// Our additions: null and past dates.
		{name: "book null date", req: req(wire.ActionBook, "312", 0), want: wire.ErrorReply(booking.MsgNullDate)},
		{name: "unbook null date", req: req(wire.ActionUnbook, "312", 0), want: wire.ErrorReply(booking.MsgNullDate)},
		{name: "bookings on null date", req: req(wire.ActionBookingsOnDate, "312", 0), want: wire.ErrorReply(booking.MsgNullDate)},
		{
			name: "book yesterday",
			req:  req(wire.ActionBook, "312", date(2026, 11, 24)),
			want: wire.ErrorReply("Cannot book 2026-11-24: the date is in the past (today is 2026-11-25)"),
		},
		{name: "book Julian day 1", req: req(wire.ActionBook, "312", 1), want: wire.ErrorReply(booking.MsgPastDate(1, date(2026, 11, 25)))},

		// Our additions: the horizon (730 days from 2026-11-25 is 2028-11-24).
		{name: "book the last day of the horizon", req: req(wire.ActionBook, "312", date(2028, 11, 24)), want: echo(wire.ActionBook, "312", date(2028, 11, 24))},
		{
			name: "book the day after the horizon",
			req:  req(wire.ActionBook, "312", date(2028, 11, 25)),
			want: wire.ErrorReply("Cannot book 2028-11-25: bookings are taken up to 2028-11-24"),
		},
		{name: "book Julian day 0xFFFFFFFF", req: req(wire.ActionBook, "312", 0xFFFFFFFF), want: wire.ErrorReply(booking.MsgBeyondHorizon(0xFFFFFFFF, date(2028, 11, 24)))},
		{name: "book 10000-01-01", req: req(wire.ActionBook, "312", date(10000, 1, 1)), want: wire.ErrorReply(booking.MsgBeyondHorizon(date(10000, 1, 1), date(2028, 11, 24)))},
		{name: "unbook past the horizon", before: []booked{{"312", date(2031, 1, 1)}}, req: req(wire.ActionUnbook, "312", date(2031, 1, 1)), want: echo(wire.ActionUnbook, "312", date(2031, 1, 1))},
		{
			name:   "bookings on a date past the horizon",
			before: []booked{{"312", date(2031, 1, 1)}},
			req:    req(wire.ActionBookingsOnDate, "", date(2031, 1, 1)),
			want:   wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: []string{"312"}, Date: date(2031, 1, 1)},
		},
	}

	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				store := open(t)
				ctx := context.Background()
				for _, b := range tc.before {
					require.NoError(t, store.Book(ctx, b.room, b.date, booking.MaxBookingsPerDay))
				}
				svc := newService(t, store)

				got := svc.Handle(ctx, tc.req)
				assert.Equal(t, tc.want, got)

				// ServeFrame gives the same reply, encoded.
				block, err := tc.req.MarshalBinary()
				require.NoError(t, err)
				if !got.IsError() && tc.req.Action == wire.ActionBook {
					require.NoError(t, store.Unbook(ctx, tc.req.Room, tc.req.Date)) // undo, to book again
				}
				if !got.IsError() && tc.req.Action == wire.ActionUnbook {
					require.NoError(t, store.Book(ctx, tc.req.Room, tc.req.Date, booking.MaxBookingsPerDay))
				}
				want, err := tc.want.MarshalBinary()
				require.NoError(t, err)
				assert.Equal(t, want, svc.ServeFrame(ctx, block))
			})
		}
	})
}

// TestServiceBookingIsStored checks that the replies reflect the store: a
// booking then shows in both queries, and an unbooking removes it.
func TestServiceBookingIsStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		svc := newService(t, open(t))
		d := date(2026, 12, 1)
		do := func(action, room string, d wire.Date) wire.Reply {
			return svc.Handle(ctx, wire.Request{Action: action, Room: room, Date: d})
		}
		require.False(t, do(wire.ActionBook, "312", d).IsError())
		require.False(t, do(wire.ActionBook, "101", d).IsError())
		assert.Equal(t, []string{"101", "312"}, do(wire.ActionBookingsOnDate, "", d).Rooms)
		assert.Equal(t, []wire.Date{d}, do(wire.ActionBookingsForRoom, "312", 0).Dates)

		require.False(t, do(wire.ActionUnbook, "312", d).IsError())
		assert.Equal(t, []string{"101"}, do(wire.ActionBookingsOnDate, "", d).Rooms)
		assert.Equal(t, wire.ErrorReply(wire.MsgRoomNotBooked("312")), do(wire.ActionBookingsForRoom, "312", 0))
		assert.Equal(t, wire.ErrorReply(wire.MsgNotBooked), do(wire.ActionUnbook, "312", d))
	})
}

// TestServeFrameMalformed sends blocks that do not parse.
func TestServeFrameMalformed(t *testing.T) {
	bookAction := wire.AppendString(nil, wire.ActionBook) // 12 bytes
	withRoom := wire.AppendString(append([]byte(nil), bookAction...), "312")
	whole := wire.AppendDate(append([]byte(nil), withRoom...), date(2026, 12, 1)) // 26 bytes
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	unknown := func(action string) []byte {
		b, err := wire.Request{Action: action, Room: "312", Date: date(2026, 12, 1)}.MarshalBinary()
		require.NoError(t, err)
		return b
	}

	cases := []struct {
		name      string
		block     []byte
		want      string
		malformed bool // counted in Stats.Malformed, else in Unrecognized
	}{
		{name: "unknown action", block: unknown("CANCEL"), want: wire.MsgUnrecognized},
		{name: "unknown action then junk", block: cat(wire.AppendString(nil, "CANCEL"), []byte{1, 2, 3}), want: wire.MsgUnrecognized},
		{name: "null action", block: cat(wire.AppendNullString(nil), whole[12:]), want: wire.MsgUnrecognized},
		{
			name: "empty block", block: nil, malformed: true,
			want: "Malformed request: the action field is missing or cut short, at byte 0 (needs 4 bytes, 0 left)",
		},
		{
			name: "action longer than block", block: []byte{0, 0, 0, 8, 0, 'B'}, malformed: true,
			want: "Malformed request: the action field is missing or cut short, at byte 0 (string of 8 bytes, 2 left)",
		},
		{
			name: "odd action length", block: []byte{0, 0, 0, 3, 0, 'B', 0}, malformed: true,
			want: "Malformed request: the action string has an odd byte length (3), at byte 0; QString is UTF-16",
		},
		{
			name: "odd room length", block: cat(bookAction, []byte{0, 0, 0, 5, 0, '3', 0, '1', 0}, []byte{0, 0x25, 0x8e, 0xc0}), malformed: true,
			want: "Malformed request: the room string has an odd byte length (5), at byte 12; QString is UTF-16",
		},
		{
			name: "missing room and date", block: bookAction, malformed: true,
			want: "Malformed request: the room field is missing or cut short, at byte 12 (needs 4 bytes, 0 left)",
		},
		{
			name: "missing date", block: withRoom, malformed: true,
			want: "Malformed request: the date field is missing or cut short, at byte 22 (needs 4 bytes, 0 left)",
		},
		{
			name: "short date", block: cat(withRoom, []byte{0, 0x25}), malformed: true,
			want: "Malformed request: the date field is missing or cut short, at byte 22 (needs 4 bytes, 2 left)",
		},
		{
			name: "trailing bytes", block: cat(whole, []byte{0xde, 0xad, 0x00}), malformed: true,
			want: "Malformed request: 3 unexpected bytes after the date, at byte 26",
		},
	}
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				svc := newService(t, open(t))
				got := svc.ServeFrame(context.Background(), tc.block)
				var reply wire.Reply
				require.NoError(t, reply.UnmarshalBinary(got))
				assert.Equal(t, wire.ErrorReply(tc.want), reply)
				assert.Equal(t, wire.ErrorBlock(tc.want), got)

				st := svc.Stats()
				assert.Equal(t, uint64(1), st.Requests())
				if tc.malformed {
					assert.Equal(t, uint64(1), st.Malformed)
				} else {
					assert.Equal(t, uint64(1), st.Unrecognized)
				}
			})
		}
	})
}

// TestServeFrameUnrecognizedGolden compares the reply to an unknown action
// with the book server's own bytes.
func TestServeFrameUnrecognizedGolden(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		svc := newService(t, open(t))
		block, err := wire.Request{Action: "RESERVE", Room: "312", Date: date(2026, 12, 1)}.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, goldenBlock(t, "error_unrecognized"), svc.ServeFrame(context.Background(), block))
	})
}

// TestServeFrameGolden drives the service with the golden BOOK request and
// checks each reply against the golden replies, byte for byte.
func TestServeFrameGolden(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		svc := newService(t, open(t))

		book := goldenBlock(t, "book_request")
		assert.Equal(t, goldenBlock(t, "book_reply"), svc.ServeFrame(ctx, book), "first booking")
		assert.Equal(t, goldenBlock(t, "error_duplicate"), svc.ServeFrame(ctx, book), "same booking again")

		dec2 := date(2026, 12, 2)
		for _, room := range validRooms(5) {
			block, err := wire.Request{Action: wire.ActionBook, Room: room, Date: dec2}.MarshalBinary()
			require.NoError(t, err)
			want, err := wire.Reply{Action: wire.ActionBook, Room: room, Date: dec2}.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, want, svc.ServeFrame(ctx, block), room)
		}
		sixth, err := wire.Request{Action: wire.ActionBook, Room: "312", Date: dec2}.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, goldenBlock(t, "error_fully_booked"), svc.ServeFrame(ctx, sixth), "sixth booking")

		assert.Equal(t, goldenBlock(t, "unbook_reply"), svc.ServeFrame(ctx, goldenBlock(t, "unbook_request")))
	})
}

func TestServeFrameLongRoomFitsInOneBlock(t *testing.T) {
	svc := newService(t, booking.NewMemoryStore())
	room := strings.Repeat("\U0001F600", 8000) // 32,000 bytes of UTF-16
	block, err := wire.Request{Action: wire.ActionBook, Room: room, Date: date(2026, 12, 1)}.MarshalBinary()
	require.NoError(t, err)
	require.LessOrEqual(t, len(block), wire.MaxBlock)

	got := svc.ServeFrame(context.Background(), block)
	var reply wire.Reply
	require.NoError(t, reply.UnmarshalBinary(got))
	assert.Equal(t, `Invalid room "`+strings.Repeat("\U0001F600", 16)+`...": a room is three digits, floor 0-9 then room 01-34, like 312`, reply.Message)
}

func TestServeFrameReplyTooLarge(t *testing.T) {
	ctx := context.Background()
	store := booking.NewMemoryStore()
	first := date(2026, 12, 1)
	for i := range 17000 { // 17,000 dates × 4 bytes do not fit in 65,535
		require.NoError(t, store.Book(ctx, "312", first+wire.Date(i), 1))
	}
	svc := newService(t, store)
	block, err := wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"}.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, wire.ErrorBlock(booking.MsgReplyTooLarge), svc.ServeFrame(ctx, block))
}

// TestServicePastDateUsesLocation checks that "today" is the calendar date
// in Config.Location.
func TestServicePastDateUsesLocation(t *testing.T) {
	now := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC) // already the 26th east of UTC
	for _, tc := range []struct {
		name    string
		loc     *time.Location
		refused bool
	}{
		{"UTC", time.UTC, false},
		{"UTC+2", time.FixedZone("UTC+2", 2*3600), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := booking.New(booking.NewMemoryStore(), booking.Config{Now: func() time.Time { return now }, Location: tc.loc})
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			got := svc.Handle(context.Background(), wire.Request{Action: wire.ActionBook, Room: "312", Date: date(2026, 11, 25)})
			assert.Equal(t, tc.refused, got.IsError(), got.Message)
			if tc.refused {
				assert.Equal(t, booking.MsgPastDate(date(2026, 11, 25), date(2026, 11, 26)), got.Message)
			}
		})
	}
}

func TestServiceMaxPerDay(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig
	cfg.MaxPerDay = 2
	svc, err := booking.New(booking.NewMemoryStore(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	d := date(2026, 12, 1)
	for i, room := range []string{"101", "102", "103"} {
		got := svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: room, Date: d})
		assert.Equal(t, i >= 2, got.IsError(), "%s: %s", room, got.Message)
	}
}

// TestServiceHorizon checks Config.Horizon and that no horizon reaches
// past booking.LastDate.
func TestServiceHorizon(t *testing.T) {
	for _, tc := range []struct {
		name    string
		horizon int
		last    wire.Date // the last date a BOOK is accepted for
	}{
		{"default", 0, date(2028, 11, 24)},
		{"one day", 1, date(2026, 11, 26)},
		{"a week", 7, date(2026, 12, 2)},
		{"up to 9999-12-31", int(booking.LastDate - date(2026, 11, 25)), booking.LastDate},
		{"past 9999-12-31", 1 << 40, booking.LastDate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			cfg.Horizon = tc.horizon
			svc, err := booking.New(booking.NewMemoryStore(), cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			ctx := context.Background()
			got := svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: "312", Date: tc.last})
			assert.False(t, got.IsError(), got.Message)
			got = svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: "312", Date: tc.last + 1})
			assert.Equal(t, wire.ErrorReply(booking.MsgBeyondHorizon(tc.last+1, tc.last)), got)
			assert.Equal(t, uint64(1), svc.Stats().Refused)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  booking.Config
		ok   bool
	}{
		{"zero", booking.Config{}, true},
		{"limit", booking.Config{MaxPerDay: 50}, true},
		{"negative limit", booking.Config{MaxPerDay: -1}, false},
		{"horizon", booking.Config{Horizon: 30}, true},
		{"negative horizon", booking.Config{Horizon: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			_, newErr := booking.New(booking.NewMemoryStore(), tc.cfg)
			if tc.ok {
				assert.NoError(t, err)
				assert.NoError(t, newErr)
				return
			}
			assert.ErrorIs(t, err, booking.ErrInvalidConfig)
			assert.ErrorIs(t, newErr, booking.ErrInvalidConfig)
		})
	}
	_, err := booking.New(nil, booking.Config{})
	require.ErrorIs(t, err, booking.ErrInvalidConfig)
}

// TestServiceStoreErrors checks that a failing store gives an ERROR reply,
// never a success, and is counted.
func TestServiceStoreErrors(t *testing.T) {
	ioErr := fmt.Errorf("write bookings.db: %w", syscall.EIO)
	closedBolt := func(t *testing.T) booking.Store {
		s := storeKinds[1].open(t)
		require.NoError(t, s.Close())
		return s
	}
	d := date(2026, 12, 1)
	reqs := []wire.Request{
		{Action: wire.ActionBook, Room: "312", Date: d},
		{Action: wire.ActionUnbook, Room: "312", Date: d},
		{Action: wire.ActionBookingsOnDate, Date: d},
		{Action: wire.ActionBookingsForRoom, Room: "312"},
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) booking.Store
		cause error // what the reply's error must wrap
	}{
		{"io error", func(*testing.T) booking.Store { return failingStore{ioErr} }, syscall.EIO},
		{"closed bolt", closedBolt, booking.ErrClosed},
		{"closed memory", func(t *testing.T) booking.Store {
			s := booking.NewMemoryStore()
			require.NoError(t, s.Close())
			return s
		}, booking.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			type failure struct {
				action string
				err    error
			}
			var seen []failure // Handle runs on this goroutine
			cfg := testConfig
			cfg.OnStoreError = func(action string, err error) { seen = append(seen, failure{action, err}) }
			svc, err := booking.New(store, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			for i, req := range reqs {
				got := svc.Handle(context.Background(), req)
				require.True(t, got.IsError(), "%s must not succeed", req.Action)
				assert.True(t, strings.HasSuffix(got.Message, "; try again later"), got.Message)
				assert.NotContains(t, got.Message, "bookings.db", "the server's internals stay on the server")
				assert.NotContains(t, got.Message, "booking:")
				assert.Equal(t, uint64(i+1), svc.Stats().StoreErrors)
				if assert.Len(t, seen, i+1, "OnStoreError is called once per failure") {
					assert.Equal(t, req.Action, seen[i].action)
					assert.ErrorIs(t, seen[i].err, tc.cause)
					assert.Equal(t, booking.MsgStoreError(req.Action, seen[i].err), got.Message, "the hook sees the error the client is told of")
				}
			}
			err = tc.store(t).Book(context.Background(), "312", d, 5)
			assert.ErrorIs(t, err, tc.cause)
			assert.Equal(t, booking.MsgStoreError(wire.ActionBook, err), svc.Handle(context.Background(), reqs[0]).Message)
		})
	}
	// The client is told what was not done and to try again, never the
	// server's error (which names its file): the operator gets that
	// through OnStoreError.
	t.Run("message", func(t *testing.T) {
		assert.Equal(t, "Booking not saved: storage error on the server; try again later",
			booking.MsgStoreError(wire.ActionBook, ioErr))
		assert.Equal(t, "Booking not cancelled: storage error on the server; try again later", booking.MsgStoreError(wire.ActionUnbook, errors.New("x")))
		assert.Equal(t, "Bookings not read: storage error on the server; try again later", booking.MsgStoreError(wire.ActionBookingsOnDate, errors.New("x")))
		assert.Equal(t, "Bookings not read: the server is shutting down; try again later",
			booking.MsgStoreError(wire.ActionBookingsForRoom, fmt.Errorf("%w: rooms on 2030-12-01", booking.ErrClosed)))
	})
}

// TestServiceClose checks that a closed Service answers with a storage
// error, that Close closes the store, and that Close is idempotent.
func TestServiceClose(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		store := open(t)
		svc, err := booking.New(store, testConfig)
		require.NoError(t, err)
		req := wire.Request{Action: wire.ActionBook, Room: "312", Date: date(2026, 12, 1)}
		require.False(t, svc.Handle(ctx, req).IsError())

		require.NoError(t, svc.Close())
		require.NoError(t, svc.Close())
		got := svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: "313", Date: date(2026, 12, 1)})
		assert.True(t, got.IsError())
		assert.Equal(t, "Booking not saved: the server is shutting down; try again later", got.Message)
		assert.Equal(t, uint64(1), svc.Stats().StoreErrors)

		_, err = store.RoomsOn(ctx, date(2026, 12, 1))
		assert.ErrorIs(t, err, booking.ErrClosed, "Service.Close closes the store")
	})
}

func TestServiceStats(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, booking.NewMemoryStore())
	d := date(2026, 12, 1)
	for _, r := range []wire.Request{
		{Action: wire.ActionBook, Room: "312", Date: d},       // ok
		{Action: wire.ActionBook, Room: "312", Date: d},       // duplicate
		{Action: wire.ActionBook, Room: "9x9", Date: d},       // invalid room
		{Action: wire.ActionUnbook, Room: "313", Date: d},     // not booked
		{Action: wire.ActionBookingsOnDate, Date: d},          // ok
		{Action: wire.ActionBookingsOnDate, Date: d + 1},      // nothing: not a refusal
		{Action: wire.ActionBookingsForRoom, Room: "312"},     // ok
		{Action: wire.ActionBookingsForRoom, Room: "1"},       // invalid room
		{Action: "PING", Room: "312", Date: d},                // unrecognized
		{Action: wire.ActionBook, Room: "312", Date: d - 100}, // past
	} {
		svc.Handle(ctx, r)
	}
	svc.ServeFrame(ctx, []byte{0, 0})
	assert.Equal(t, booking.Stats{
		Book: 4, Unbook: 1, BookingsOnDate: 2, BookingsForRoom: 2,
		Unrecognized: 1, Malformed: 1, Refused: 5,
	}, svc.Stats())
	assert.Equal(t, uint64(11), svc.Stats().Requests())
}

// TestServiceConcurrentBookingsOfOneDate books 200 rooms on one date at
// once: exactly MaxBookingsPerDay succeed, every other is told the date is
// fully booked, and the store holds exactly the successful ones.
func TestServiceConcurrentBookingsOfOneDate(t *testing.T) {
	const n = 200
	d := date(2026, 12, 2)
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		store := open(t)
		svc := newService(t, store)
		rooms := validRooms(n)

		replies := make([]wire.Reply, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, room := range rooms {
			wg.Go(func() {
				<-start
				replies[i] = svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: room, Date: d})
			})
		}
		close(start)
		wg.Wait()

		var won []string
		for i, r := range replies {
			if r.IsError() {
				assert.Equal(t, wire.ErrorReply(wire.MsgFullyBooked(d)), r, rooms[i])
				continue
			}
			assert.Equal(t, wire.Reply{Action: wire.ActionBook, Room: rooms[i], Date: d}, r)
			won = append(won, rooms[i])
		}
		assert.Len(t, won, booking.MaxBookingsPerDay)
		got, err := store.RoomsOn(ctx, d)
		require.NoError(t, err)
		assert.Equal(t, won, got) // both ascending: rooms is sorted
		st := svc.Stats()
		assert.Equal(t, uint64(n), st.Book)
		assert.Equal(t, uint64(n-booking.MaxBookingsPerDay), st.Refused)
		assert.Zero(t, st.StoreErrors)
	})
}
