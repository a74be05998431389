package wire_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/poolside-dev/poolside/wire"
)

// roomRE is the book client's room validator, the reference for ValidRoom.
var roomRE = regexp.MustCompile(`^[0-9](0[1-9]|[12][0-9]|3[0-4])$`)

// TestValidRoomMatchesRegexp checks the hand-written room check against
// the book client's regular expression on every short string over an
// alphabet of digits and neighbours.
func TestValidRoomMatchesRegexp(t *testing.T) {
	const alphabet = "0123456789/:a \x00"
	var check func(prefix string)
	check = func(s string) {
		if got, want := wire.ValidRoom(s), roomRE.MatchString(s); got != want {
			t.Errorf("ValidRoom(%q) = %v, regexp says %v", s, got, want)
		}
		if len(s) == 4 {
			return
		}
		for i := range len(alphabet) {
			check(s + alphabet[i:i+1])
		}
	}
	check("")
	for _, s := range []string{"312", "001", "934", "935", "٣١٢", "312\n", "\n312"} {
		assert.Equal(t, roomRE.MatchString(s), wire.ValidRoom(s), "%q", s)
	}
}

func FuzzValidRoom(f *testing.F) {
	for _, s := range []string{"312", "000", "034", "035", "9x9", "", "1234", "٣١٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := wire.ValidRoom(s), roomRE.MatchString(s); got != want {
			t.Fatalf("ValidRoom(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

func TestRooms(t *testing.T) {
	rooms := wire.Rooms()
	assert.Len(t, rooms, 340)
	assert.Equal(t, "001", rooms[0])
	assert.Equal(t, "034", rooms[33])
	assert.Equal(t, "101", rooms[34])
	assert.Equal(t, "934", rooms[339])
	for _, r := range rooms {
		assert.True(t, roomRE.MatchString(r), r)
	}
}

// BenchmarkValidRoom compares the hand-written room check with the book
// client's regular expression.
func BenchmarkValidRoom(b *testing.B) {
	rooms := []string{"312", "934", "035", "9x9", "1234"}
	b.Run("hand", func(b *testing.B) {
		var i int
		for b.Loop() {
			wire.ValidRoom(rooms[i%len(rooms)])
			i++
		}
	})
	b.Run("regexp", func(b *testing.B) {
		var i int
		for b.Loop() {
			roomRE.MatchString(rooms[i%len(rooms)])
			i++
		}
	})
}
