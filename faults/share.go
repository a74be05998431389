package faults

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Share applies Fault to a share of a Proxy's connections, as toxiproxy's
// toxicity does: each connection is drawn in or out once, with probability
// Toxicity, from the proxy's seed, Name and the connection's number in
// accept order (1 for the first). The same seed and the same Name pick the
// same connections on every run, whatever else changes: a draw does not
// depend on timing, nor on the other faults in the list, and both
// directions of a connection draw alike. Outside a Proxy every connection
// has number 0, so all of them or none get the fault.
//
// Spec: the fault's token followed by "~PERCENT%", such as
// "latency=50ms~25%" (Name is then the fault's token).
type Share struct {
	// Fault is the fault applied to the connections drawn.
	Fault Fault
	// Toxicity is the probability that a connection is drawn, 0 to 1.
	Toxicity float64
	// Name keys the draw; "" means Fault's String. Two Shares with
	// different names draw independently.
	Name string
}

// Validate reports a Toxicity outside 0..1 and an invalid Fault.
func (f Share) Validate() error {
	if math.IsNaN(f.Toxicity) || f.Toxicity < 0 || f.Toxicity > 1 {
		return invalid("share", "toxicity %v is not between 0 and 1", f.Toxicity)
	}
	if _, ok := f.Fault.(Share); ok {
		return invalid("share", "a Share of a Share: give one Toxicity")
	}
	return validate(f.Fault)
}

// String returns the fault's spec followed by "~PERCENT%".
func (f Share) String() string { return f.Fault.String() + "~" + percent(f.Toxicity) + "%" }

// percent writes t as a percentage, with the fewest digits that parse
// back (as ParseSpec reads it: the percentage over 100) to t itself.
func percent(t float64) string {
	for prec := 1; prec <= 17; prec++ {
		s := strconv.FormatFloat(t*100, 'f', -1, 64)
		if prec < 17 {
			s = strconv.FormatFloat(t*100, 'g', prec, 64)
		}
		if p, err := strconv.ParseFloat(s, 64); err == nil && p/100 == t && !strings.ContainsAny(s, "e+") {
			return s
		}
	}
	return strconv.FormatFloat(t*100, 'f', -1, 64)
}

func (f Share) only() Dir { return onlyDir(f.Fault) }

// Inject applies Fault when the stream's connection is drawn.
func (f Share) Inject(s *Stream, next Op) Op {
	if !drawn(s.seed, f.key(), s.c.num, f.Toxicity) {
		return next
	}
	return f.Fault.Inject(s, next)
}

func (f Share) key() string {
	if f.Name != "" {
		return f.Name
	}
	return f.Fault.String()
}

// drawn reports whether connection num is drawn for the Share keyed key,
// with probability toxicity.
func drawn(seed uint64, key string, num uint64, toxicity float64) bool {
	if toxicity >= 1 {
		return true
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return rand.New(rand.NewPCG(seed^h.Sum64(), num)).Float64() < toxicity
}
