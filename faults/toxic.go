package faults

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// The streams of a Toxic: toxiproxy's names for a Proxy's Up and Down.
const (
	StreamUpstream   = "upstream"   // client to server: Config.Up
	StreamDownstream = "downstream" // server to client: Config.Down
)

// Toxic is one of a Hub proxy's faults in toxiproxy's terms: a named,
// typed fault on one stream, applied to a Toxicity share of the
// connections (see Share), with integer attributes. ToxicTypes lists the
// types and what each becomes.
type Toxic struct {
	// Name is unique in its proxy; "" becomes TYPE_STREAM.
	Name string `json:"name"`
	// Type is a key of ToxicTypes.
	Type string `json:"type"`
	// Stream is StreamUpstream or StreamDownstream; "" means downstream.
	Stream string `json:"stream"`
	// Toxicity is the share of connections the toxic acts on, 0 to 1.
	Toxicity float32 `json:"toxicity"`
	// Attributes are the type's parameters; a missing one is 0.
	Attributes map[string]int64 `json:"attributes"`
}

// ToxicType is one toxic type: its attributes and the faults it becomes.
type ToxicType struct {
	// Attributes are its attributes' names, with their units.
	Attributes []string
	// Poolside says it is poolside's own, not one of toxiproxy's.
	Poolside bool
	// Faults builds its faults from the attributes, or says what is wrong.
	faults func(a map[string]int64) ([]Fault, error)
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// ToxicTypes are the toxic types a Hub accepts: toxiproxy's seven, with
// their attributes in toxiproxy's units, and poolside's own faults.
var ToxicTypes = map[string]ToxicType{
	"latency": {Attributes: []string{"latency (ms)", "jitter (ms)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Latency{Delay: ms(a["latency"]), Jitter: ms(a["jitter"])}}, nil
	}},
	"bandwidth": {Attributes: []string{"rate (KB/s)"}, faults: func(a map[string]int64) ([]Fault, error) {
		if a["rate"] < 1 {
			return nil, fmt.Errorf("rate must be at least 1 KB/s, got %d", a["rate"])
		}
		return []Fault{Slow{Rate: a["rate"] * 1000}}, nil
	}},
	"slow_close": {Attributes: []string{"delay (ms)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{SlowClose{Delay: ms(a["delay"])}}, nil
	}},
	"timeout": {Attributes: []string{"timeout (ms; 0 = never close)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Blackhole{After: ms(a["timeout"])}}, nil
	}},
	"reset_peer": {Attributes: []string{"timeout (ms)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Reset{After: ms(a["timeout"])}}, nil
	}},
	"slicer": {Attributes: []string{"average_size (bytes)", "size_variation (bytes)", "delay (µs)"}, faults: func(a map[string]int64) ([]Fault, error) {
		avg, v := a["average_size"], a["size_variation"]
		if avg < 1 || v < 0 || v >= avg || avg+v > math.MaxInt32 {
			return nil, fmt.Errorf("average_size must be at least 1 and size_variation from 0 to average_size-1, got %d and %d", avg, v)
		}
		fs := []Fault{Chunk{Max: int(avg)}}
		if v > 0 {
			fs = []Fault{Chunk{Min: int(avg - v), Max: int(avg + v)}}
		}
		if d := a["delay"]; d > 0 {
			fs = append(fs, Slow{Delay: time.Duration(d) * time.Microsecond})
		}
		return fs, nil
	}},
	"limit_data": {Attributes: []string{"bytes"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Cut{At: a["bytes"]}}, nil
	}},
	"delay": {Poolside: true, Attributes: []string{"delay (ms)", "jitter (ms)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Slow{Delay: ms(a["delay"]), Jitter: ms(a["jitter"])}}, nil
	}},
	"stall": {Poolside: true, Attributes: []string{"offset (bytes)", "duration (ms)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Stall{At: a["offset"], For: ms(a["duration"])}}, nil
	}},
	"cut": {Poolside: true, Attributes: []string{"offset (bytes)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Cut{At: a["offset"]}}, nil
	}},
	"reset": {Poolside: true, Attributes: []string{"offset (bytes)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Reset{At: a["offset"]}}, nil
	}},
	"blackhole": {Poolside: true, Attributes: []string{"offset (bytes)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{Blackhole{At: a["offset"]}}, nil
	}},
	"corrupt": {Poolside: true, Attributes: []string{"offset (bytes)", "mask (0 = 255)"}, faults: func(a map[string]int64) ([]Fault, error) {
		if m := a["mask"]; m < 0 || m > 255 {
			return nil, fmt.Errorf("mask must be 0 to 255, got %d", m)
		}
		return []Fault{Corrupt{At: a["offset"], Mask: byte(a["mask"])}}, nil
	}},
	"short_write": {Poolside: true, Attributes: []string{"offset (bytes)"}, faults: func(a map[string]int64) ([]Fault, error) {
		return []Fault{ShortWrite{At: a["offset"]}}, nil
	}},
	"chunk": {Poolside: true, Attributes: []string{"max (bytes)", "min (bytes; 0 = always max)"}, faults: func(a map[string]int64) ([]Fault, error) {
		if a["max"] > math.MaxInt32 || a["min"] > math.MaxInt32 {
			return nil, fmt.Errorf("max and min must be at most %d", math.MaxInt32)
		}
		return []Fault{Chunk{Max: int(a["max"]), Min: int(a["min"])}}, nil
	}},
}

// attrNames returns the attribute names of typ, without their units.
func (typ ToxicType) attrNames() []string {
	out := make([]string, len(typ.Attributes))
	for i, a := range typ.Attributes {
		out[i], _, _ = strings.Cut(a, " ")
	}
	return out
}

// ConnectionAttribute is the attribute, accepted by every toxic type,
// that limits a toxic to the connection of that number (1 is the first a
// proxy accepted): poolside's k-th connection. 0 or missing means every
// connection.
const ConnectionAttribute = "connection"

// normalize fills in t's defaults, checks it, and gives it every
// attribute of its type.
func (t Toxic) normalize() (Toxic, error) {
	typ, ok := ToxicTypes[t.Type]
	if !ok {
		return Toxic{}, fmt.Errorf("%w: unknown toxic type %q (valid: %s)", ErrBadProxy, t.Type, strings.Join(slices.Sorted(maps.Keys(ToxicTypes)), ", "))
	}
	switch t.Stream {
	case "":
		t.Stream = StreamDownstream
	case StreamUpstream, StreamDownstream:
	default:
		return Toxic{}, fmt.Errorf("%w: stream %q is not %q or %q", ErrBadProxy, t.Stream, StreamUpstream, StreamDownstream)
	}
	if t.Name == "" {
		t.Name = t.Type + "_" + t.Stream
	}
	if math.IsNaN(float64(t.Toxicity)) || t.Toxicity < 0 || t.Toxicity > 1 {
		return Toxic{}, fmt.Errorf("%w: toxic %q: toxicity %v is not between 0 and 1", ErrBadProxy, t.Name, t.Toxicity)
	}
	names := typ.attrNames()
	attrs := make(map[string]int64, len(names)+1)
	for _, n := range names {
		attrs[n] = 0
	}
	for k, v := range t.Attributes {
		if _, known := attrs[k]; !known && k != ConnectionAttribute {
			return Toxic{}, fmt.Errorf("%w: toxic %q: %s has no attribute %q (its attributes: %s)", ErrBadProxy, t.Name, t.Type, k, strings.Join(typ.Attributes, ", "))
		}
		if v < 0 {
			return Toxic{}, fmt.Errorf("%w: toxic %q: attribute %q is negative (%d)", ErrBadProxy, t.Name, k, v)
		}
		attrs[k] = v
	}
	if attrs[ConnectionAttribute] == 0 {
		delete(attrs, ConnectionAttribute)
	}
	t.Attributes = attrs
	fs, err := typ.faults(attrs)
	if err == nil {
		err = validateAll(fs)
	}
	if err != nil {
		return Toxic{}, fmt.Errorf("%w: toxic %q (%s): %v", ErrBadProxy, t.Name, t.Type, strings.TrimPrefix(err.Error(), "fault 0: "))
	}
	return t, nil
}

// fault returns the fault t becomes, after normalize: its type's faults,
// drawn per connection when Toxicity is below 1, limited to one
// connection when it has the connection attribute.
func (t Toxic) fault() Fault {
	fs, _ := ToxicTypes[t.Type].faults(t.Attributes) // normalize checked them
	var f Fault = seq(fs)
	if len(fs) == 1 {
		f = fs[0]
	}
	if t.Toxicity < 1 {
		f = Share{Fault: f, Toxicity: float64(t.Toxicity), Name: t.Name}
	}
	if n := t.Attributes[ConnectionAttribute]; n > 0 {
		f = nth{f: f, num: uint64(n)}
	}
	return f
}

func (t Toxic) clone() Toxic {
	t.Attributes = maps.Clone(t.Attributes)
	return t
}

// UnmarshalJSON reads a toxic, taking a missing toxicity as 1, as
// toxiproxy does, and attributes of any JSON number that is an integer.
func (t *Toxic) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name       string                     `json:"name"`
		Type       string                     `json:"type"`
		Stream     string                     `json:"stream"`
		Toxicity   *float32                   `json:"toxicity"`
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	raw.Name, raw.Type, raw.Stream = t.Name, t.Type, t.Stream
	tox := t.Toxicity
	if t.Type == "" { // a new toxic, not an update
		tox = 1
	}
	raw.Toxicity = &tox
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	attrs := maps.Clone(t.Attributes)
	if attrs == nil {
		attrs = map[string]int64{}
	}
	for k, v := range raw.Attributes {
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("attribute %q is %s, not an integer", k, v)
		}
		attrs[k] = int64(f)
	}
	*t = Toxic{Name: raw.Name, Type: raw.Type, Stream: raw.Stream, Attributes: attrs}
	if raw.Toxicity != nil {
		t.Toxicity = *raw.Toxicity
	}
	return nil
}

// seq is faults applied one after the other, as one fault (slicer's chunk
// and delay).
type seq []Fault

func (s seq) String() string { return FormatSpec(s) }

func (s seq) Inject(st *Stream, next Op) Op {
	for i := len(s) - 1; i >= 0; i-- {
		next = s[i].Inject(st, next)
	}
	return next
}

func (s seq) Validate() error { return validateAll(s) }

// nth is a fault on the num-th connection of a Proxy only.
type nth struct {
	f   Fault
	num uint64
}

func (n nth) String() string { return fmt.Sprintf("%s (connection %d only)", n.f, n.num) }

func (n nth) Inject(s *Stream, next Op) Op {
	if s.c.num != n.num {
		return next
	}
	return n.f.Inject(s, next)
}

func (n nth) Validate() error { return validate(n.f) }
