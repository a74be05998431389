package wire_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

// golden reads testdata/golden/NAME.hex.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".hex"))
	require.NoError(t, err)
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	require.NoError(t, err)
	return b
}

func TestGoldenRequestsRoundTrip(t *testing.T) {
	date := wire.DateOf(2026, 12, 1)
	for _, tc := range []struct {
		file string
		want wire.Request
	}{
		{"book_request", wire.Request{Action: wire.ActionBook, Room: "312", Date: date}},
		{"unbook_request", wire.Request{Action: wire.ActionUnbook, Room: "312", Date: date}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frame := golden(t, tc.file)
			block, err := wire.ReadFrame(bytes.NewReader(frame), nil)
			require.NoError(t, err)

			var got wire.Request
			require.NoError(t, got.UnmarshalBinary(block))
			assert.Equal(t, tc.want, got)

			enc, err := got.MarshalBinary()
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, wire.WriteFrame(&out, enc))
			assert.Equal(t, frame, out.Bytes(), "decode then encode must give the golden bytes")

			// Encoding the expected value from scratch gives the same bytes.
			enc2, err := tc.want.AppendBinary(nil)
			require.NoError(t, err)
			full, err := wire.AppendFrame(nil, enc2)
			require.NoError(t, err)
			assert.Equal(t, frame, full)
		})
	}
}

func TestGoldenRepliesRoundTrip(t *testing.T) {
	date := wire.DateOf(2026, 12, 1)
	for _, tc := range []struct {
		file string
		want wire.Reply
	}{
		{"book_reply", wire.Reply{Action: wire.ActionBook, Room: "312", Date: date}},
		{"unbook_reply", wire.Reply{Action: wire.ActionUnbook, Room: "312", Date: date}},
		{"error_duplicate", wire.ErrorReply("Cannot accept duplicate booking")},
		{"error_unrecognized", wire.ErrorReply("Unrecognized request")},
		{"error_fully_booked", wire.ErrorReply("2026-12-02 is fully booked")},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frame := golden(t, tc.file)
			block, err := wire.ReadFrame(bytes.NewReader(frame), nil)
			require.NoError(t, err)

			var got wire.Reply
			require.NoError(t, got.UnmarshalBinary(block))
			assert.Equal(t, tc.want, got)

			enc, err := got.MarshalBinary()
			require.NoError(t, err)
			full, err := wire.AppendFrame(nil, enc)
			require.NoError(t, err)
			assert.Equal(t, frame, full)
		})
	}
}

func TestGoldenFields(t *testing.T) {
	for _, tc := range []struct {
		file string
		str  string
		null bool
	}{
		{file: "qstring_312", str: "312"},
		{file: "qstring_unicode", str: "é€😀"},
		{file: "qstring_null", null: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := golden(t, tc.file)
			d := wire.NewDecoder(b)
			s, err := d.String("s")
			require.NoError(t, err)
			require.NoError(t, d.Finish())
			assert.Equal(t, tc.str, s)
			if tc.null {
				assert.Equal(t, b, wire.AppendNullString(nil))
				return
			}
			assert.Equal(t, b, wire.AppendString(nil, s))
		})
	}

	b := golden(t, "qdate_2026-12-01")
	d := wire.NewDecoder(b)
	date, err := d.Date("date")
	require.NoError(t, err)
	assert.Equal(t, wire.Date(2461376), date)
	assert.Equal(t, "2026-12-01", date.String())
	assert.Equal(t, b, wire.AppendDate(nil, date))
}

func TestMessagesMatchGolden(t *testing.T) {
	for _, tc := range []struct{ file, msg string }{
		{"error_duplicate", wire.MsgDuplicate},
		{"error_unrecognized", wire.MsgUnrecognized},
		{"error_fully_booked", wire.MsgFullyBooked(wire.DateOf(2026, 12, 2))},
	} {
		frame, err := wire.AppendFrame(nil, wire.ErrorBlock(tc.msg))
		require.NoError(t, err)
		assert.Equal(t, golden(t, tc.file), frame, tc.file)
	}
	assert.Equal(t, "there are no rooms booked on 2026-12-01", wire.MsgNoRoomsOn(wire.DateOf(2026, 12, 1)))
	assert.Equal(t, "room 312 is not booked", wire.MsgRoomNotBooked("312"))
}
