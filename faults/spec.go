package faults

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ProxySpecSyntax lists the fault tokens ParseProxySpec accepts, as its
// errors show them: SpecSyntax without the read: and write: prefixes.
const ProxySpecSyntax = "delay=DURATION[+-JITTER], latency=DURATION[+-JITTER], rate=BYTES_PER_SEC, " +
	"chunk=MAX or chunk=MIN..MAX, stall=AT@DURATION, cut=AT, reset=AT[@DURATION], " +
	"blackhole or blackhole=AT[@DURATION], corrupt=AT or corrupt=AT^MASK, short=AT, slowclose=DURATION"

// ShareSyntax says how a spec applies a fault to a share of the
// connections, as errors and help show it.
const ShareSyntax = "any fault followed by ~PERCENT% (such as cut=0~25%) acts on that share of the connections"

// SpecSyntax lists the tokens ParseSpec accepts, as its errors show them.
const SpecSyntax = ProxySpecSyntax + "; " + ShareSyntax + "; a read: or write: prefix restricts a fault to one direction"

// ParseSpec parses a comma-separated list of faults, such as
// "chunk=1..8,delay=1ms" or "read:cut=100". Each token is one fault, in the
// syntax its String method documents:
//
//	delay=1ms       Slow{Delay: time.Millisecond} (before every operation)
//	delay=5ms+-1ms  Slow{Delay: 5 * time.Millisecond, Jitter: time.Millisecond}
//	latency=50ms    Latency{Delay: 50 * time.Millisecond} (once per message; +-JITTER too)
//	rate=1000       Slow{Rate: 1000} (bytes per second)
//	chunk=8         Chunk{Max: 8}
//	chunk=1..8      Chunk{Min: 1, Max: 8} (random, seeded)
//	stall=10@2s     Stall{At: 10, For: 2 * time.Second}
//	cut=100         Cut{At: 100} (cut=0: at the first operation, see Cut)
//	reset=50        Reset{At: 50} (reset=0: at the first operation)
//	reset=0@2s      Reset{After: 2 * time.Second}
//	blackhole       Blackhole{}
//	blackhole=10    Blackhole{At: 10}
//	blackhole=0@5s  Blackhole{After: 5 * time.Second} (then closed)
//	corrupt=7       Corrupt{At: 7}
//	corrupt=7^0x01  Corrupt{At: 7, Mask: 0x01}
//	short=3         ShortWrite{At: 3} (writes only: no read: prefix)
//	slowclose=1s    SlowClose{Delay: time.Second} (writes only)
//	cut=0~25%       Share{Fault: Cut{}, Toxicity: 0.25} (a quarter of the connections)
//	read:chunk=1    OnRead(Chunk{Max: 1}); write: likewise gives OnWrite
//
// Offsets, rates, sizes and a decimal MASK are plain decimal digits, with
// no sign, underscore or other base; a MASK may also be 0x followed by hex
// digits. A DURATION is a Go duration such as 10ms or 1m30s, without a
// sign. Spaces around tokens, keys, values and the ":" of a prefix are
// ignored; spaces inside a number or duration are not. An empty or
// all-space s gives no faults and no error. Errors wrap ErrBadSpec and name
// the bad token.
func ParseSpec(s string) ([]Fault, error) { return parseSpec(s, "", SpecSyntax) }

// ParseProxySpec parses s as ParseSpec does, for a Proxy's Up or Down list,
// which already says which bytes its faults act on: a token with a read:
// or write: prefix is an error, and the errors list ProxySpecSyntax. list
// names the list in that error the way the caller's user knows it, such as
// "Up", the JSON field "\"up\"" or the flag "--up":
//
//	faults: bad spec: token "read:cut=1": drop the "read:" prefix (--up already says which bytes the fault acts on)
//
// Errors wrap ErrBadSpec.
func ParseProxySpec(list, s string) ([]Fault, error) { return parseSpec(s, list, ProxySpecSyntax) }

// parseSpec parses s. A list that is not "" refuses direction prefixes,
// naming list in the error. syntax is what the errors offer.
func parseSpec(s, list, syntax string) ([]Fault, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Fault
	for tok := range strings.SplitSeq(s, ",") {
		f, err := parseToken(strings.TrimSpace(tok), list, syntax)
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
	"delay":     {"delay=DURATION or delay=DURATION+-JITTER", parseDelay},
	"latency":   {"latency=DURATION or latency=DURATION+-JITTER", parseLatency},
	"slowclose": {"slowclose=DURATION", parseSlowClose},
	"rate":      {"rate=BYTES_PER_SEC", parseRate},
	"chunk":     {"chunk=MAX or chunk=MIN..MAX", parseChunk},
	"stall":     {"stall=AT@DURATION", parseStall},
	"cut":       {"cut=AT", offsetFault(func(at int64) Fault { return Cut{At: at} })},
	"reset":     {"reset=AT or reset=AT@DURATION", parseReset},
	"blackhole": {"blackhole, blackhole=AT or blackhole=AT@DURATION", parseBlackhole},
	"corrupt":   {"corrupt=AT or corrupt=AT^MASK", parseCorrupt},
	"short":     {"short=AT", offsetFault(func(at int64) Fault { return ShortWrite{At: at} })},
}

// dirPrefixes are the direction prefixes of a token, by name.
var dirPrefixes = map[string]Dir{"read": Read, "write": Write}

func parseToken(tok, list, syntax string) (Fault, error) {
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token (valid: %s)", ErrBadSpec, syntax)
	}
	body, dir := tok, Dir(0)
	// No key or value has a ":", so one before the first "=" ends a prefix.
	if pre, rest, ok := strings.Cut(tok, ":"); ok && !strings.Contains(pre, "=") {
		pre = strings.TrimSpace(pre)
		d, known := dirPrefixes[pre]
		switch {
		case !known:
			return nil, fmt.Errorf("%w: token %q: unknown direction %q before \":\" (want read: or write:, or no prefix)", ErrBadSpec, tok, pre)
		case list != "":
			return nil, fmt.Errorf("%w: token %q: drop the %q prefix (%s already says which bytes the fault acts on)", ErrBadSpec, tok, pre+":", list)
		}
		body, dir = rest, d
	}
	body, share, shared := strings.Cut(body, "~")
	var toxicity float64
	if shared {
		t, err := parsePercent(strings.TrimSpace(share))
		if err != nil {
			return nil, fmt.Errorf("%w: token %q: %v (want a fault followed by ~PERCENT%%, such as cut=0~25%%)", ErrBadSpec, tok, err)
		}
		toxicity = t
	}
	key, val, has := strings.Cut(body, "=")
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	kp, ok := keys[key]
	if !ok {
		return nil, fmt.Errorf("%w: token %q: unknown fault %q (valid: %s)", ErrBadSpec, tok, key, syntax)
	}
	f, err := kp.parse(val, has)
	if err == nil {
		err = validate(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: token %q: %v (want %s)", ErrBadSpec, tok, err, kp.syntax)
	}
	if shared {
		f = Share{Fault: f, Toxicity: toxicity}
	}
	if dir == 0 {
		return f, nil
	}
	if only := onlyDir(f); only != 0 && only != dir {
		return nil, fmt.Errorf("%w: token %q: %s acts on %ss only, so a %s: prefix leaves it nothing to do (want %s or %s:%s)",
			ErrBadSpec, tok, key, only, dir, kp.syntax, only, kp.syntax)
	}
	return on(dir, f), nil
}

func need(v string, has bool) error {
	if !has || v == "" {
		return fmt.Errorf("missing value")
	}
	return nil
}

func parseOffset(v string) (int64, error) { return decimal("offset", v, 0) }

// decimal parses v, the number what names in errors, as an integer of at
// least least (0 or 1) written in decimal digits only: no sign, no
// underscore, no other base.
func decimal(what, v string, least int64) (int64, error) {
	kind := "non-negative"
	if least > 0 {
		kind = "positive"
	}
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("%s %q is not a %s integer in decimal digits (no sign)", what, v, kind)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is too large (at most %d)", what, v, int64(math.MaxInt64))
	}
	if n < least {
		return 0, fmt.Errorf("%s %q is not a %s integer", what, v, kind)
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") {
		return 0, fmt.Errorf("duration %q has a sign; write it without one, such as 10ms", v)
	}
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
	d, j, err := parseJitter(v, has)
	if err != nil {
		return nil, err
	}
	return Slow{Delay: d, Jitter: j}, nil
}

func parseLatency(v string, has bool) (Fault, error) {
	d, j, err := parseJitter(v, has)
	if err != nil {
		return nil, err
	}
	return Latency{Delay: d, Jitter: j}, nil
}

// parseJitter parses DURATION or DURATION+-JITTER.
func parseJitter(v string, has bool) (d, j time.Duration, err error) {
	if err := need(v, has); err != nil {
		return 0, 0, err
	}
	dv, jv, jittered := strings.Cut(v, "+-")
	if d, err = parseDuration(strings.TrimSpace(dv)); err != nil {
		return 0, 0, err
	}
	if jittered {
		if j, err = parseDuration(strings.TrimSpace(jv)); err != nil {
			return 0, 0, err
		}
	}
	return d, j, nil
}

func parseSlowClose(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	d, err := parseDuration(v)
	if err != nil {
		return nil, err
	}
	return SlowClose{Delay: d}, nil
}

// parsePercent parses "25%" (a decimal number from 0 to 100 and a "%")
// as 0.25.
func parsePercent(v string) (float64, error) {
	num, ok := strings.CutSuffix(v, "%")
	num = strings.TrimSpace(num)
	if !ok || num == "" || strings.TrimLeft(num, "0123456789.") != "" {
		return 0, fmt.Errorf("share %q is not a percentage such as 25%%", v)
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || p > 100 {
		return 0, fmt.Errorf("share %q is not a percentage from 0%% to 100%%", v)
	}
	return p / 100, nil
}

// parseAtAfter parses AT or AT@DURATION.
func parseAtAfter(v string) (int64, time.Duration, error) {
	at, d, timed := strings.Cut(v, "@")
	off, err := parseOffset(strings.TrimSpace(at))
	if err != nil || !timed {
		return off, 0, err
	}
	after, err := parseDuration(strings.TrimSpace(d))
	return off, after, err
}

func parseReset(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	at, after, err := parseAtAfter(v)
	if err != nil {
		return nil, err
	}
	return Reset{At: at, After: after}, nil
}

func parseRate(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	r, err := decimal("rate", v, 1)
	if err != nil {
		return nil, err
	}
	return Slow{Rate: r}, nil
}

func parseChunk(v string, has bool) (Fault, error) {
	if err := need(v, has); err != nil {
		return nil, err
	}
	lo, hi, ranged := strings.Cut(v, "..")
	size := func(s string) (int, error) {
		n, err := decimal("chunk size", strings.TrimSpace(s), 1)
		if err == nil && n > math.MaxInt {
			err = fmt.Errorf("chunk size %q is too large (at most %d)", s, math.MaxInt)
		}
		return int(n), err
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
	at, after, err := parseAtAfter(v)
	if err != nil {
		return nil, err
	}
	return Blackhole{At: at, After: after}, nil
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
	mask, err := parseMask(strings.TrimSpace(m))
	if err != nil {
		return nil, err
	}
	return Corrupt{At: off, Mask: mask}, nil
}

// parseMask parses a byte 1..255 written in decimal digits, or in hex
// digits after 0x or 0X.
func parseMask(m string) (byte, error) {
	digits, base := m, 10
	if h, ok := strings.CutPrefix(m, "0x"); ok {
		digits, base = h, 16
	} else if h, ok := strings.CutPrefix(m, "0X"); ok {
		digits, base = h, 16
	}
	valid := "0123456789"
	if base == 16 {
		valid += "abcdefABCDEF"
	}
	if digits != "" && strings.TrimLeft(digits, valid) == "" {
		if n, err := strconv.ParseUint(digits, base, 8); err == nil && n != 0 {
			return byte(n), nil
		}
	}
	return 0, fmt.Errorf("mask %q is not a byte 1..255 (decimal, or hex after 0x)", m)
}
