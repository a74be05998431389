package wire

import "strconv"

// ValidRoom reports whether room is a room of the building: three ASCII
// digits, a floor 0-9 then a room 01-34, the rule of the book client's
// validator ^[0-9](0[1-9]|[12][0-9]|3[0-4])$. It is the one copy of the
// rule: poolside's server refuses other rooms, and its client treats a
// reply that lists another as malformed.
func ValidRoom(room string) bool {
	if len(room) != 3 {
		return false
	}
	f, t, u := room[0], room[1], room[2]
	if f < '0' || f > '9' || t < '0' || t > '3' || u < '0' || u > '9' {
		return false
	}
	n := (t-'0')*10 + u - '0'
	return n >= 1 && n <= 34
}

// Rooms returns the building's 340 rooms in ascending order ("001" to
// "934"): every string ValidRoom accepts. The slice is new on each call.
func Rooms() []string {
	rooms := make([]string, 0, 340)
	for i := range 1000 {
		if s := pad3(i); ValidRoom(s) {
			rooms = append(rooms, s)
		}
	}
	return rooms
}

// pad3 formats 0 <= i < 1000 in three digits.
func pad3(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
