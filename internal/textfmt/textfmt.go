package textfmt

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Plural returns word, or word with an "s" unless n is 1.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// PluralWord returns one if n is 1 and many otherwise, for words whose
// plural is not word + "s" ("was" and "were").
func PluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count returns n and word, plural unless n is 1: "1 client", "4 clients".
func Count(n int, word string) string { return fmt.Sprintf("%d %s", n, Plural(n, word)) }

// Clients returns "1 client" or "n clients".
func Clients(n int) string { return Count(n, "client") }

// Workers returns "1 worker" or "n workers".
func Workers(n int) string { return Count(n, "worker") }

// MS converts d to milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// US converts d to microseconds.
func US(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Duration prints a latency with three significant figures in a unit
// that suits it, or "-" for none.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(US(d), 'f', 0, 64) + "µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(MS(d), 'f', 2, 64) + "ms"
	case d < 100*time.Millisecond:
		return strconv.FormatFloat(MS(d), 'f', 1, 64) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(MS(d), 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// Seconds prints a window's length, "0.31 s".
func Seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// Rate prints a rate in requests per second: whole above 100, with
// three significant figures below, so that 0.25 does not print as 0.
func Rate(r float64) string {
	if r >= 100 || r <= 0 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(r, 'g', 3, 64), 64)
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Pct formats part/whole as a percentage, "-" when whole is unknown.
func Pct(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 0, 64) + "%"
}

// Wrap breaks s into lines of at most width characters at spaces.
func Wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		l := len([]rune(word))
		if n > 0 && n+1+l > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += l
	}
	return b.String()
}

// Capitalise returns s with its first letter in upper case.
func Capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// WithArticle puts "a" or "an" before phrase.
func WithArticle(phrase string) string {
	if phrase != "" && strings.ContainsRune("aeiou", rune(phrase[0])) {
		return "an " + phrase
	}
	return "a " + phrase
}
