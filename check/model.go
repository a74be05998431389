package check

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/poolside-dev/poolside/wire"
)

// roomIndex numbers the protocol's 340 rooms, for the model's sets.
var roomIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range wire.Rooms() {
		m[r] = i
	}
	return m
}()

// roomSet is the set of rooms booked on one date: a bit per room.
type roomSet [6]uint64

func (s roomSet) has(i int) bool        { return s[i/64]&(1<<(i%64)) != 0 }
func (s roomSet) with(i int) roomSet    { s[i/64] |= 1 << (i % 64); return s }
func (s roomSet) without(i int) roomSet { s[i/64] &^= 1 << (i % 64); return s }

func (s roomSet) len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// rooms lists the set, in the protocol's order.
func (s roomSet) rooms() []string {
	var out []string
	for i, r := range wire.Rooms() {
		if s.has(i) {
			out = append(out, r)
		}
	}
	return out
}

// setOf makes the set of rooms; ok is false if one is not a room.
func setOf(rooms []string) (s roomSet, ok bool) {
	for _, r := range rooms {
		i, found := roomIndex[r]
		if !found {
			return s, false
		}
		s = s.with(i)
	}
	return s, true
}

// input and output are an operation as the model sees it.
type input struct {
	action string
	room   int // index, for BOOK and UNBOOK
	op     Op
}

type output struct {
	status Status
	answer Answer
	rooms  roomSet
	valid  bool // rooms are all rooms
}

// model is the Building Services rules for one date, as porcupine checks
// them: a set of at most limit rooms; BOOK adds a room that is not there
// while there is room, and is refused as a duplicate when it is there or
// as full when the date is; UNBOOK removes a room that is there, and is
// refused when it is not; BOOKINGSONDATE returns the set. An operation in
// doubt (Info) may have taken effect or not, at any time after its call.
// The history is partitioned by date: dates are independent.
func model(limit int) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			byDate := map[wire.Date][]porcupine.Operation{}
			var order []wire.Date
			for _, o := range ops {
				d := o.Input.(input).op.Date
				if _, seen := byDate[d]; !seen {
					order = append(order, d)
				}
				byDate[d] = append(byDate[d], o)
			}
			parts := make([][]porcupine.Operation, len(order))
			for i, d := range order {
				parts[i] = byDate[d]
			}
			return parts
		},
		Init: func() []any { return []any{roomSet{}} },
		Step: func(state, in, out any) []any {
			s, i, o := state.(roomSet), in.(input), out.(output)
			return step(limit, s, i, o)
		},
		Equal: func(a, b any) bool { return a.(roomSet) == b.(roomSet) },
		DescribeOperation: func(in, out any) string {
			return describe(in.(input).op)
		},
		DescribeState: func(state any) string {
			rooms := state.(roomSet).rooms()
			if len(rooms) == 0 {
				return "no rooms booked"
			}
			return "booked: " + strings.Join(rooms, " ")
		},
	}
	return nm.ToModel()
}

// step returns the states s may move to under the operation, none when
// the operation's answer cannot happen in s.
func step(limit int, s roomSet, in input, out output) []any {
	same := []any{s}
	switch in.op.Action {
	case wire.ActionBook:
		free := !s.has(in.room) && s.len() < limit
		switch {
		case out.status == Info:
			if free {
				return []any{s, s.with(in.room)}
			}
			return same
		case out.answer == Done && free:
			return []any{s.with(in.room)}
		case out.answer == Duplicate && s.has(in.room), out.answer == Full && s.len() >= limit, out.answer == Refused:
			return same
		}
	case wire.ActionUnbook:
		switch {
		case out.status == Info:
			if s.has(in.room) {
				return []any{s, s.without(in.room)}
			}
			return same
		case out.answer == Done && s.has(in.room):
			return []any{s.without(in.room)}
		case out.answer == NotBooked && !s.has(in.room), out.answer == Refused:
			return same
		}
	case wire.ActionBookingsOnDate:
		if out.answer == Done && out.valid && out.rooms == s {
			return same
		}
	}
	return nil
}

// describe is an operation as the timeline shows it: "BOOK 312 -> ok".
func describe(o Op) string {
	var what string
	switch o.Action {
	case wire.ActionBook:
		what = "BOOK " + o.Room
	case wire.ActionUnbook:
		what = "UNBOOK " + o.Room
	case wire.ActionBookingsOnDate:
		what = "ONDATE"
	default:
		what = o.Action
	}
	switch {
	case o.Status == Info:
		return what + " -> ? (" + o.Detail + ")"
	case o.Action == wire.ActionBookingsOnDate:
		return fmt.Sprintf("%s -> %v", what, o.Rooms)
	}
	return what + " -> " + o.Answer.String()
}

// operations turns the history into porcupine's operations: the BOOK,
// UNBOOK and BOOKINGSONDATE operations that are not Fail (those had no
// effect and said nothing), each Info one returning after the end of the
// history (it may take effect at any time after its call).
func operations(h History) []porcupine.Operation {
	var end int64
	for _, o := range h.Ops {
		end = max(end, o.Return)
	}
	var ops []porcupine.Operation
	for idx, o := range h.Ops {
		if o.Status == Fail || o.Action == wire.ActionBookingsForRoom {
			continue
		}
		in := input{action: o.Action, op: o}
		if o.Action != wire.ActionBookingsOnDate {
			i, ok := roomIndex[o.Room]
			if !ok {
				continue // refused as invalid: no effect
			}
			in.room = i
		}
		out := output{status: o.Status, answer: o.Answer}
		out.rooms, out.valid = setOf(o.Rooms)
		ret := o.Return
		if o.Status == Info {
			ret = end + 1
		}
		ops = append(ops, porcupine.Operation{ClientId: o.Client, Input: in, Call: o.Call, Output: out, Return: ret, Metadata: idx})
	}
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	return ops
}
