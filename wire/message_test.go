package wire_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

func TestDate(t *testing.T) {
	d := wire.DateOf(2026, time.December, 1)
	assert.Equal(t, wire.Date(2461376), d, "PROTOCOL.md: 2026-12-01 = JDN 2461376")
	assert.Equal(t, "2026-12-01", d.String())
	assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), d.Time())
	assert.Equal(t, d+1, wire.DateOf(2026, 12, 2))

	p, err := wire.ParseDate("2026-12-01")
	require.NoError(t, err)
	assert.Equal(t, d, p)
	_, err = wire.ParseDate("2026-13-01")
	require.Error(t, err)
	_, err = wire.ParseDate("1/12/2026")
	require.Error(t, err)

	assert.True(t, wire.Date(0).IsNull())
	assert.Equal(t, "null date", wire.Date(0).String())
	assert.True(t, wire.Date(0).Time().IsZero())
	assert.Equal(t, wire.Date(0), wire.FromTime(time.Date(-4714, 11, 23, 0, 0, 0, 0, time.UTC)), "before JDN 1 is null")

	local := time.Date(2026, 12, 1, 23, 30, 0, 0, time.FixedZone("east", 10*3600))
	assert.Equal(t, d, wire.FromTime(local), "the calendar day in t's own location")
}

func TestReplyRoundTrip(t *testing.T) {
	d := wire.DateOf(2026, 12, 1)
	for _, r := range []wire.Reply{
		{Action: wire.ActionBook, Room: "312", Date: d},
		{Action: wire.ActionUnbook, Room: "101", Date: d},
		{Action: wire.ActionBookingsOnDate, Rooms: []string{"101", "312"}, Date: d},
		{Action: wire.ActionBookingsOnDate, Rooms: []string{"101"}, Date: d},
		{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{d, d + 3}},
		{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{}},
		wire.ErrorReply("Server busy, try again later"),
	} {
		t.Run(r.Action, func(t *testing.T) {
			b, err := r.MarshalBinary()
			require.NoError(t, err)
			var got wire.Reply
			require.NoError(t, got.UnmarshalBinary(b))
			assert.Equal(t, r, got)
		})
	}

	_, err := wire.Reply{Action: "NOPE"}.MarshalBinary()
	require.ErrorIs(t, err, wire.ErrUnknownAction)
}

func TestBookingsOnDateWireShape(t *testing.T) {
	d := wire.DateOf(2026, 12, 1)
	b, err := wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: []string{"101", "312"}, Date: d}.MarshalBinary()
	require.NoError(t, err)
	want := wire.AppendString(nil, "BOOKINGSONDATE")
	want = wire.AppendString(want, "101, 312")
	want = wire.AppendDate(want, d)
	assert.Equal(t, want, b, "rooms go on the wire as one string joined by \", \"")

	b, err = wire.Reply{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{d, d + 1}}.MarshalBinary()
	require.NoError(t, err)
	want = wire.AppendString(nil, "BOOKINGSFORROOM")
	want = wire.AppendString(want, "312")
	want = wire.AppendInt32(want, 2)
	want = wire.AppendDate(wire.AppendDate(want, d), d+1)
	assert.Equal(t, want, b)
}

// block builds a payload from encoded parts.
func block(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func str(s string) []byte     { return wire.AppendString(nil, s) }
func u32(v uint32) []byte     { return wire.AppendUint32(nil, v) }
func date(d wire.Date) []byte { return wire.AppendDate(nil, d) }

func TestRequestUnmarshalErrors(t *testing.T) {
	d := wire.DateOf(2026, 12, 1)
	for _, tc := range []struct {
		name  string
		block []byte
		want  error
		field string
	}{
		{"empty block", nil, wire.ErrShortField, "action"},
		{"unknown action", block(str("FROB"), str("312"), date(d)), wire.ErrUnknownAction, "action"},
		{"missing room", block(str("BOOK")), wire.ErrShortField, "room"},
		{"missing date", block(str("BOOK"), str("312")), wire.ErrShortField, "date"},
		{"short date", block(str("BOOK"), str("312"), []byte{0, 1}), wire.ErrShortField, "date"},
		{"odd room length", block(str("BOOK"), u32(3), []byte{0, 0x33, 0}, date(d)), wire.ErrOddLength, "room"},
		{"overlong room length", block(str("BOOK"), u32(1000), date(d)), wire.ErrShortField, "room"},
		{"huge room length", block(str("BOOK"), u32(0xfffffffe), date(d)), wire.ErrShortField, "room"},
		{"trailing bytes", block(str("BOOK"), str("312"), date(d), []byte{9}), wire.ErrTrailingBytes, "end of block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r wire.Request
			err := r.UnmarshalBinary(tc.block)
			require.ErrorIs(t, err, tc.want)
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.field, pe.Field)
			assert.Contains(t, err.Error(), tc.field, "the message names the field")
		})
	}

	var r wire.Request
	require.NoError(t, r.UnmarshalBinary(block(str("BOOKINGSONDATE"), []byte{0xff, 0xff, 0xff, 0xff}, date(d))), "a null room string is accepted")
	assert.Equal(t, wire.Request{Action: wire.ActionBookingsOnDate, Date: d}, r)
	require.NoError(t, r.UnmarshalBinary(block(str("BOOK"), str("312"), date(0))), "a null date decodes; the service rejects it")
	assert.True(t, r.Date.IsNull())
}

func TestReplyUnmarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block []byte
		want  error
	}{
		{"unknown action", block(str("HELLO")), wire.ErrUnknownAction},
		{"negative count", block(str("BOOKINGSFORROOM"), str("312"), u32(0xffffffff)), wire.ErrBadCount},
		{"count past block", block(str("BOOKINGSFORROOM"), str("312"), u32(3), u32(1)), wire.ErrBadCount},
		{"missing message", block(str("ERROR")), wire.ErrShortField},
		{"trailing", block(str("ERROR"), str("x"), []byte{1}), wire.ErrTrailingBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r wire.Reply
			require.ErrorIs(t, r.UnmarshalBinary(tc.block), tc.want)
		})
	}
}

// TestHugeLengthsDoNotAllocate checks that length fields claiming more than
// the block holds are refused before anything of that size is allocated.
func TestHugeLengthsDoNotAllocate(t *testing.T) {
	huge := [][]byte{
		block(str("BOOK"), u32(0x7ffffffe)),
		block(str("BOOKINGSFORROOM"), str("312"), u32(0x7fffffff)),
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		var req wire.Request
		_ = req.UnmarshalBinary(huge[0])
		var rep wire.Reply
		_ = rep.UnmarshalBinary(huge[1])
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "allocations must be bounded by the block, not by length fields")
}
