package wire

import (
	"fmt"
	"time"
)

// unixEpochJDN is the Julian Day Number of 1970-01-01.
const unixEpochJDN = 2440588

// Date is a calendar date as QDate stores it: the Julian Day Number of a
// proleptic Gregorian date. The zero Date is Qt's null (invalid) date.
type Date uint32

// DateOf returns the Date for year, month and day. Out-of-range months and
// days are normalised the way time.Date does.
func DateOf(year int, month time.Month, day int) Date {
	return FromTime(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// FromTime returns the Date of t's calendar day in t's location. Days before
// Julian Day 1 give the null Date.
func FromTime(t time.Time) Date {
	y, m, d := t.Date()
	days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	jdn := days + unixEpochJDN
	if jdn < 1 || jdn > int64(^uint32(0)) {
		return 0
	}
	return Date(jdn)
}

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("wire: date %q is not YYYY-MM-DD", s)
	}
	return FromTime(t), nil
}

// IsNull reports whether d is Qt's null date.
func (d Date) IsNull() bool { return d == 0 }

// Time returns midnight UTC of d. The null Date gives the zero time.Time.
func (d Date) Time() time.Time {
	if d.IsNull() {
		return time.Time{}
	}
	return time.Unix((int64(d)-unixEpochJDN)*86400, 0).UTC()
}

// String returns d as YYYY-MM-DD, or "null date".
func (d Date) String() string {
	if d.IsNull() {
		return "null date"
	}
	return d.Time().Format(time.DateOnly)
}
