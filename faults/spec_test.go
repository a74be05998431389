package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec string
		want []faults.Fault
	}{
		{"", nil},
		{"  ", nil},
		{"chunk=1,delay=1ms", []faults.Fault{faults.Chunk{Max: 1}, faults.Slow{Delay: time.Millisecond}}},
		{"chunk=1..8", []faults.Fault{faults.Chunk{Min: 1, Max: 8}}},
		{"rate=1000", []faults.Fault{faults.Slow{Rate: 1000}}},
		{"cut=100", []faults.Fault{faults.Cut{At: 100}}},
		{"reset=50", []faults.Fault{faults.Reset{At: 50}}},
		{"stall=10@2s", []faults.Fault{faults.Stall{At: 10, For: 2 * time.Second}}},
		{"blackhole", []faults.Fault{faults.Blackhole{}}},
		{"blackhole=10", []faults.Fault{faults.Blackhole{At: 10}}},
		{"corrupt=7", []faults.Fault{faults.Corrupt{At: 7}}},
		{"corrupt=7^0x01", []faults.Fault{faults.Corrupt{At: 7, Mask: 1}}},
		{"corrupt=7^255", []faults.Fault{faults.Corrupt{At: 7, Mask: 0xFF}}},
		{"short=3", []faults.Fault{faults.ShortWrite{At: 3}}},
		{"read:chunk=1, write:short=3", []faults.Fault{faults.OnRead(faults.Chunk{Max: 1}), faults.OnWrite(faults.ShortWrite{At: 3})}},
		{" chunk = 2 .. 4 , stall = 0 @ 1ms ", []faults.Fault{faults.Chunk{Min: 2, Max: 4}, faults.Stall{For: time.Millisecond}}},
		{"read : cut = 5, write :short=1", []faults.Fault{faults.OnRead(faults.Cut{At: 5}), faults.OnWrite(faults.ShortWrite{At: 1})}},
		{"delay=0s", []faults.Fault{faults.Slow{}}},
		{"corrupt=7^0XfF", []faults.Fault{faults.Corrupt{At: 7, Mask: 0xFF}}},
		{"corrupt=7^010", []faults.Fault{faults.Corrupt{At: 7, Mask: 10}}}, // decimal, not octal
		{"cut=007", []faults.Fault{faults.Cut{At: 7}}},
		{"delay=5ms+-1ms", []faults.Fault{faults.Slow{Delay: 5 * time.Millisecond, Jitter: time.Millisecond}}},
		{"latency=50ms", []faults.Fault{faults.Latency{Delay: 50 * time.Millisecond}}},
		{"latency = 50ms +- 10ms", []faults.Fault{faults.Latency{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}}},
		{"reset=0@2s", []faults.Fault{faults.Reset{After: 2 * time.Second}}},
		{"blackhole=3@5s", []faults.Fault{faults.Blackhole{At: 3, After: 5 * time.Second}}},
		{"slowclose=1s", []faults.Fault{faults.SlowClose{Delay: time.Second}}},
		{"cut=0~25%", []faults.Fault{faults.Share{Fault: faults.Cut{}, Toxicity: 0.25}}},
		{"read:delay=1ms ~ 7.5 %", []faults.Fault{faults.OnRead(faults.Share{Fault: faults.Slow{Delay: time.Millisecond}, Toxicity: 0.075})}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := faults.ParseSpec(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		spec string
		msg  string // the whole error, to keep messages clear
	}{
		{"jitter=5", `faults: bad spec: token "jitter=5": unknown fault "jitter" (valid: ` + faults.SpecSyntax + `)`},
		{"chunk=0", `faults: bad spec: token "chunk=0": chunk size "0" is not a positive integer (want chunk=MAX or chunk=MIN..MAX)`},
		{"chunk=8..2", `faults: bad spec: token "chunk=8..2": chunk range 8..2 is empty (want chunk=MAX or chunk=MIN..MAX)`},
		{"chunk", `faults: bad spec: token "chunk": missing value (want chunk=MAX or chunk=MIN..MAX)`},
		{"cut=-1", `faults: bad spec: token "cut=-1": offset "-1" is not a non-negative integer in decimal digits (no sign) (want cut=AT)`},
		{"cut=+5", `faults: bad spec: token "cut=+5": offset "+5" is not a non-negative integer in decimal digits (no sign) (want cut=AT)`},
		{"reset=1_0", `faults: bad spec: token "reset=1_0": offset "1_0" is not a non-negative integer in decimal digits (no sign) (want reset=AT or reset=AT@DURATION)`},
		{"stall=+1@1s", `faults: bad spec: token "stall=+1@1s": offset "+1" is not a non-negative integer in decimal digits (no sign) (want stall=AT@DURATION)`},
		{"cut=9223372036854775808", `faults: bad spec: token "cut=9223372036854775808": offset "9223372036854775808" is too large (at most 9223372036854775807) (want cut=AT)`},
		{"rate=+10", `faults: bad spec: token "rate=+10": rate "+10" is not a positive integer in decimal digits (no sign) (want rate=BYTES_PER_SEC)`},
		{"chunk=+2", `faults: bad spec: token "chunk=+2": chunk size "+2" is not a positive integer in decimal digits (no sign) (want chunk=MAX or chunk=MIN..MAX)`},
		{"chunk=1..+2", `faults: bad spec: token "chunk=1..+2": chunk size "+2" is not a positive integer in decimal digits (no sign) (want chunk=MAX or chunk=MIN..MAX)`},
		{"delay=5", `faults: bad spec: token "delay=5": duration "5" is not a non-negative Go duration such as 10ms (want delay=DURATION or delay=DURATION+-JITTER)`},
		{"delay=+1ms", `faults: bad spec: token "delay=+1ms": duration "+1ms" has a sign; write it without one, such as 10ms (want delay=DURATION or delay=DURATION+-JITTER)`},
		{"stall=1@-1s", `faults: bad spec: token "stall=1@-1s": duration "-1s" has a sign; write it without one, such as 10ms (want stall=AT@DURATION)`},
		{"corrupt=7^0b1", `faults: bad spec: token "corrupt=7^0b1": mask "0b1" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"corrupt=7^0o7", `faults: bad spec: token "corrupt=7^0o7": mask "0o7" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"corrupt=7^1_0", `faults: bad spec: token "corrupt=7^1_0": mask "1_0" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"corrupt=7^+1", `faults: bad spec: token "corrupt=7^+1": mask "+1" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"corrupt=7^0x", `faults: bad spec: token "corrupt=7^0x": mask "0x" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"corrupt=7^256", `faults: bad spec: token "corrupt=7^256": mask "256" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"read:short=3", `faults: bad spec: token "read:short=3": short acts on writes only, so a read: prefix leaves it nothing to do (want short=AT or write:short=AT)`},
		{"stall=10", `faults: bad spec: token "stall=10": no @ between offset and duration (want stall=AT@DURATION)`},
		{"rate=0", `faults: bad spec: token "rate=0": rate "0" is not a positive integer (want rate=BYTES_PER_SEC)`},
		{"corrupt=1^0", `faults: bad spec: token "corrupt=1^0": mask "0" is not a byte 1..255 (decimal, or hex after 0x) (want corrupt=AT or corrupt=AT^MASK)`},
		{"blackhole=", `faults: bad spec: token "blackhole=": missing value (want blackhole, blackhole=AT or blackhole=AT@DURATION)`},
		{"latency=1ms+-2ms", `faults: bad spec: token "latency=1ms+-2ms": faults: invalid fault: latency: jitter 2ms is larger than the delay 1ms; the wait would go below zero (want latency=DURATION or latency=DURATION+-JITTER)`},
		{"cut=1~101%", `faults: bad spec: token "cut=1~101%": share "101%" is not a percentage from 0% to 100% (want a fault followed by ~PERCENT%, such as cut=0~25%)`},
		{"cut=1~0.5", `faults: bad spec: token "cut=1~0.5": share "0.5" is not a percentage such as 25% (want a fault followed by ~PERCENT%, such as cut=0~25%)`},
		{"slowclose=1s~50%~50%", `faults: bad spec: token "slowclose=1s~50%~50%": share "50%~50%" is not a percentage such as 25% (want a fault followed by ~PERCENT%, such as cut=0~25%)`},
		{"cut=1,,cut=2", `faults: bad spec: empty token (valid: ` + faults.SpecSyntax + `)`},
		{"up:cut=1", `faults: bad spec: token "up:cut=1": unknown direction "up" before ":" (want read: or write:, or no prefix)`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := faults.ParseSpec(tt.spec)
			require.ErrorIs(t, err, faults.ErrBadSpec)
			assert.EqualError(t, err, tt.msg)
			assert.Nil(t, got)
		})
	}
}

func TestParseProxySpec(t *testing.T) {
	got, err := faults.ParseProxySpec("--up", " chunk=1..8 , cut=100")
	require.NoError(t, err)
	assert.Equal(t, []faults.Fault{faults.Chunk{Min: 1, Max: 8}, faults.Cut{At: 100}}, got)

	tests := []struct {
		list, spec string
		msg        string
	}{
		{"--up", "chunk=1, read:cut=1", `faults: bad spec: token "read:cut=1": drop the "read:" prefix (--up already says which bytes the fault acts on)`},
		{`"down"`, "write : short=3", `faults: bad spec: token "write : short=3": drop the "write:" prefix ("down" already says which bytes the fault acts on)`},
		{"Up", "bogus", `faults: bad spec: token "bogus": unknown fault "bogus" (valid: ` + faults.ProxySpecSyntax + `)`},
		{"Up", "cut=1,", `faults: bad spec: empty token (valid: ` + faults.ProxySpecSyntax + `)`},
		{"Up", "chunk=0", `faults: bad spec: token "chunk=0": chunk size "0" is not a positive integer (want chunk=MAX or chunk=MIN..MAX)`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := faults.ParseProxySpec(tt.list, tt.spec)
			require.ErrorIs(t, err, faults.ErrBadSpec)
			assert.EqualError(t, err, tt.msg)
			assert.NotContains(t, err.Error(), faults.SpecSyntax, "a proxy list offers no prefix")
			assert.Nil(t, got)
		})
	}
	assert.True(t, strings.HasPrefix(faults.SpecSyntax, faults.ProxySpecSyntax+";"))
}

func TestSpecRoundTrip(t *testing.T) {
	all := []faults.Fault{
		faults.Slow{Delay: 1500 * time.Microsecond},
		faults.Slow{Rate: 1 << 20},
		faults.Slow{},
		faults.Chunk{Max: 1},
		faults.Chunk{Min: 3, Max: 3},
		faults.Chunk{Min: 1, Max: 8},
		faults.Stall{At: 10, For: 2 * time.Second},
		faults.Stall{},
		faults.Cut{At: 100},
		faults.Reset{At: 0},
		faults.Blackhole{},
		faults.Blackhole{At: 1 << 40},
		faults.ShortWrite{At: 3},
		faults.Corrupt{At: 7},
		faults.Corrupt{At: 7, Mask: 0x80},
		faults.Corrupt{At: 7, Mask: 0xFF},
		faults.OnRead(faults.Chunk{Max: 2}),
		faults.OnWrite(faults.Stall{At: 1, For: time.Hour}),
	}
	for _, f := range all {
		t.Run(f.String(), func(t *testing.T) {
			got, err := faults.ParseSpec(f.String())
			require.NoError(t, err)
			assert.Equal(t, []faults.Fault{f}, got)
		})
	}
	got, err := faults.ParseSpec(faults.FormatSpec(all))
	require.NoError(t, err)
	assert.Equal(t, all, got)
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"", "chunk=1,delay=1ms", "chunk=1..8", "rate=1000", "cut=100", "reset=50",
		"stall=10@2s", "blackhole", "blackhole=10", "corrupt=7", "corrupt=7^0x01",
		"short=3", "read:chunk=1", "write:stall=0@1h", "chunk=0", "jitter=5", ",,",
		"delay=-1s", "stall=1@", "corrupt=1^0x100", "chunk=9223372036854775808",
		"cut=+5", "corrupt=7^0b1", "read : cut=5", "read:short=3", "up:cut=1",
		"delay=5ms+-1ms", "latency=50ms+-10ms", "latency=1ms+-2ms", "reset=0@2s", "blackhole=0@5s",
		"slowclose=1s", "cut=0~25%", "read:delay=1ms~7%", "short=3~0.1%", "cut=1~101%", "cut=1~%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := faults.ParseSpec(s)
		if err != nil {
			require.ErrorIs(t, err, faults.ErrBadSpec)
			require.Nil(t, fs)
			return
		}
		// What parses, formats and parses back to the same faults.
		again, err := faults.ParseSpec(faults.FormatSpec(fs))
		require.NoError(t, err)
		require.Equal(t, fs, again)
	})
}
