package faults

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SpecSyntax lists the tokens ParseSpec accepts, as its errors show them.
const SpecSyntax = "delay=DURATION, rate=BYTES_PER_SEC, chunk=MAX or chunk=MIN..MAX, " +
	"stall=AT@DURATION, cut=AT, reset=AT, blackhole or blackhole=AT, " +
	"corrupt=AT or corrupt=AT^MASK, short=AT; " +
	"a read: or write: prefix restricts a fault to one direction"

// ParseSpec parses a comma-separated list of faults, such as
// "chunk=1..8,delay=1ms" or "read:cut=100". Each token is one fault, in the
// syntax its String method documents:
//
//	delay=1ms       Slow{Delay: time.Millisecond}
//	rate=1000       Slow{Rate: 1000} (bytes per second)
//	chunk=8         Chunk{Max: 8}
//	chunk=1..8      Chunk{Min: 1, Max: 8} (random, seeded)
//	stall=10@2s     Stall{At: 10, For: 2 * time.Second}
//	cut=100         Cut{At: 100}
//	reset=50        Reset{At: 50}
//	blackhole       Blackhole{}
//	blackhole=10    Blackhole{At: 10}
//	corrupt=7       Corrupt{At: 7}
//	corrupt=7^0x01  Corrupt{At: 7, Mask: 0x01}
//	short=3         ShortWrite{At: 3}
//	read:chunk=1    OnRead(Chunk{Max: 1}); write: likewise gives OnWrite
//
// Spaces around tokens, keys and values are ignored. An empty or all-space
// s gives no faults and no error. Errors wrap ErrBadSpec and name the bad
// token.
func ParseSpec(s string) ([]Fault, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Fault
	for tok := range strings.SplitSeq(s, ",") {
		f, err := parseToken(strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// keyParser parses the value of one key; has reports whether "=" was there.
type keyParser struct {
	syntax string
	parse  func(v string, has bool) (Fault, error)
}

var keys = map[string]keyParser{
	"delay":     {"delay=DURATION", parseDelay},
	"rate":      {"rate=BYTES_PER_SEC", parseRate},
	"chunk":     {"chunk=MAX or chunk=MIN..MAX", parseChunk},
	"stall":     {"stall=AT@DURATION", parseStall},
	"cut":       {"cut=AT", offsetFault(func(at int64) Fault { return Cut{At: at} })},
	"reset":     {"reset=AT", offsetFault(func(at int64) Fault { return Reset{At: at} })},
	"blackhole": {"blackhole or blackhole=AT", parseBlackhole},
	"corrupt":   {"corrupt=AT or corrupt=AT^MASK", parseCorrupt},
	"short":     {"short=AT", offsetFault(func(at int64) Fault { return ShortWrite{At: at} })},
}

func parseToken(tok string) (Fault, error) {
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token (valid: %s)", ErrBadSpec, SpecSyntax)
	}
	body, dir := tok, Dir(0)
	if rest, ok := strings.CutPrefix(tok, "read:"); ok {
		body, dir = rest, Read
	} else if rest, ok := strings.CutPrefix(tok, "write:"); ok {
		body, dir = rest, Write
	}
	key, val, has := strings.Cut(body, "=")
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	kp, ok := keys[key]
	if !ok {
		return nil, fmt.Errorf("%w: token %q: unknown fault %q (valid: %s)", ErrBadSpec, tok, key, SpecSyntax)
	}
	f, err := kp.parse(val, has)
	if err == nil {
		err = validate(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: token %q: %v (want %s)", ErrBadSpec, tok, err, kp.syntax)
	}
	if dir != 0 {
		f = on(dir, f)
	}
	return f, nil
}

func need(v string, has bool) error {
	if !has || v == "" {
		return fmt.Errorf("missing value")
	}
	return nil
}

func parseOffset(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("offset %q is not a non-negative integer", v)
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q is not a non-negative Go duration such as 10ms", v)
	}
	return d, nil
}

func offsetFault(mk func(int64) Fault) func(string, bool) (Fault, error) {
	return func(v string, has bool) (Fault, error) {
		if err := need(v, has); err != nil {
			return nil, err
		}
		at, err := parseOffset(v)
		if err != nil {
			return nil, err
		}
		return mk(at), nil
	}
}

func parseDelay(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	d, err := parseDuration(v)
	if err != nil {
		return nil, err
	}
	return Slow{Delay: d}, nil
}

func parseRate(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	r, err := strconv.ParseInt(v, 10, 64)
	if err != nil || r < 1 {
		return nil, fmt.Errorf("rate %q is not a positive integer", v)
	}
	return Slow{Rate: r}, nil
}

func parseChunk(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	lo, hi, ranged := strings.Cut(v, "..")
	size := func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("chunk size %q is not a positive integer", s)
		}
		return n, nil
	}
	if !ranged {
		n, err := size(v)
		return Chunk{Max: n}, err
	}
	a, err := size(lo)
	if err != nil {
		return nil, err
	}
	b, err := size(hi)
	if err != nil {
		return nil, err
	}
	if a > b {
		return nil, fmt.Errorf("chunk range %d..%d is empty", a, b)
	}
	return Chunk{Min: a, Max: b}, nil
}

func parseStall(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	at, d, ok := strings.Cut(v, "@")
	if !ok {
		return nil, fmt.Errorf("no @ between offset and duration")
	}
	off, err := parseOffset(strings.TrimSpace(at))
	if err != nil {
		return nil, err
	}
	dur, err := parseDuration(strings.TrimSpace(d))
	if err != nil {
		return nil, err
	}
	return Stall{At: off, For: dur}, nil
}

func parseBlackhole(v string, has bool) (Fault, error) {
	if !has {
		return Blackhole{}, nil
	}
	if err := need(v, has); err != nil {
		return nil, err
	}
	at, err := parseOffset(v)
	if err != nil {
		return nil, err
	}
	return Blackhole{At: at}, nil
}

func parseCorrupt(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	at, m, masked := strings.Cut(v, "^")
	off, err := parseOffset(strings.TrimSpace(at))
	if err != nil {
		return nil, err
	}
	if !masked {
		return Corrupt{At: off}, nil
	}
	mask, err := strconv.ParseUint(strings.TrimSpace(m), 0, 8)
	if err != nil || mask == 0 {
		return nil, fmt.Errorf("mask %q is not a byte 1..255 (decimal or 0x hex)", m)
	}
	return Corrupt{At: off, Mask: byte(mask)}, nil
}
