package faults

import (
	"fmt"
	"strings"
)

// Fault is one kind of misbehaviour, described by its parameters only. A
// Fault value holds no state, so one value may be shared by many connections
// and goroutines; the state of each use (offsets, random sources) lives in the
// Op that Inject returns.
//
// A Fault applies to both directions of a connection unless it is wrapped by
// OnRead or OnWrite. In each direction it sees its own stream of bytes and
// counts its own offsets. The built-in faults are Slow, Chunk, Stall, Cut,
// Reset, Blackhole, ShortWrite and Corrupt.
//
// A Fault may also have a Validate() error method. Wrap and WrapListener
// panic when it fails; Dialer, Config.Validate and Proxy.SetFaults return
// its error.
type Fault interface {
	// Inject returns next with the fault applied to one direction of one
	// connection, described by s. It is called once per direction per
	// connection, and the Op it returns keeps that stream's state. The
	// wrapper never runs an Op concurrently with itself.
	Inject(s *Stream, next Op) Op

	// String describes the fault. The built-in faults use ParseSpec's
	// syntax, and ParseSpec gives back an equal value.
	String() string
}

// Op is one read or one write on the layer below a fault: the underlying
// connection, or the next fault in the list.
//
// In the read direction the wrapped connection's Read makes exactly one Op
// call. In the write direction an Op may write less than len(p) with a nil
// error, and the wrapped connection's Write calls again with the rest, so the
// application still sees a complete write unless an error is returned.
type Op func(p []byte) (n int, err error)

// Dir is a direction of traffic, seen from the wrapped side of a connection.
// The zero value is not a direction.
type Dir uint8

const (
	// Read is the bytes arriving at the wrapped side: its Read calls.
	Read Dir = iota + 1
	// Write is the bytes leaving the wrapped side: its Write calls.
	Write
)

// String returns "read" or "write".
func (d Dir) String() string {
	switch d {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

// OnRead returns f restricted to the read direction: bytes arriving at the
// wrapped side. In a spec it is written "read:" before the fault.
// OnRead panics if f is already restricted to writes (programmer misuse).
// The result fails Validate if f acts on writes only (ShortWrite), since
// it would then do nothing.
func OnRead(f Fault) Fault { return on(Read, f) }

// OnWrite returns f restricted to the write direction: bytes leaving the
// wrapped side. In a spec it is written "write:" before the fault.
// OnWrite panics if f is already restricted to reads (programmer misuse).
func OnWrite(f Fault) Fault { return on(Write, f) }

func on(d Dir, f Fault) Fault {
	if g, ok := f.(directed); ok {
		if g.dir != d {
			panic(fmt.Sprintf("faults: cannot restrict %v to %vs: it is restricted to %vs", g, d, g.dir))
		}
		return g
	}
	return directed{dir: d, f: f}
}

// directed is a Fault restricted to one direction.
type directed struct {
	dir Dir
	f   Fault
}

func (d directed) Inject(s *Stream, next Op) Op {
	if s.Dir() != d.dir {
		return next
	}
	return d.f.Inject(s, next)
}

func (d directed) String() string { return d.dir.String() + ":" + d.f.String() }

// Validate validates the fault, and reports one that cannot act on d.dir.
func (d directed) Validate() error {
	if err := validate(d.f); err != nil {
		return err
	}
	if only := onlyDir(d.f); only != 0 && only != d.dir {
		return fmt.Errorf("%w: %T acts on %ss only, so On%s leaves it nothing to do: use it alone or with On%s",
			ErrInvalidFault, d.f, only, title(d.dir), title(only))
	}
	return nil
}

// oneWay is implemented by the faults that act on one direction only.
type oneWay interface{ only() Dir }

// onlyDir returns the one direction f can act on, or 0 if it acts on both.
func onlyDir(f Fault) Dir {
	if o, ok := f.(oneWay); ok {
		return o.only()
	}
	return 0
}

// title returns "Read" or "Write", as in OnRead and OnWrite.
func title(d Dir) string {
	if d == Read {
		return "Read"
	}
	return "Write"
}

// appliesTo reports whether f acts on direction d at all.
func appliesTo(f Fault, d Dir) bool {
	g, ok := f.(directed)
	return !ok || g.dir == d
}

// FormatSpec returns faults in ParseSpec's syntax: their String forms joined
// by commas. It returns "" for no faults.
func FormatSpec(faults []Fault) string {
	parts := make([]string, len(faults))
	for i, f := range faults {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// validate runs f's Validate method if it has one.
func validate(f Fault) error {
	if f == nil {
		return fmt.Errorf("%w: nil fault", ErrInvalidFault)
	}
	if v, ok := f.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// validateAll validates every fault in fs.
func validateAll(fs []Fault) error {
	for i, f := range fs {
		if err := validate(f); err != nil {
			return fmt.Errorf("fault %d: %w", i, err)
		}
	}
	return nil
}

// invalid returns an ErrInvalidFault error about fault kind.
func invalid(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidFault, kind, fmt.Sprintf(format, args...))
}

// kindOf names f's kind as ProxyStats.Fired counts it.
func kindOf(f Fault) string {
	switch g := f.(type) {
	case directed:
		return kindOf(g.f)
	case Share:
		return kindOf(g.Fault)
	case nth:
		return kindOf(g.f)
	case seq:
		return "slicer"
	case Slow:
		if g.Rate > 0 {
			return "rate"
		}
		return "delay"
	case Latency:
		return "latency"
	case Chunk:
		return "chunk"
	case Stall:
		return "stall"
	case Cut:
		return "cut"
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	case Corrupt:
		return "corrupt"
	case ShortWrite:
		return "short"
	case SlowClose:
		return "slow_close"
	}
	return fmt.Sprintf("%T", f)
}
