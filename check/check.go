package check

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/poolside-dev/poolside/wire"
)

// Verdict is the checker's answer.
type Verdict string

// The verdicts. Unknown, the checker running out of time, is never a
// pass.
const (
	Linearizable    Verdict = "linearizable"
	NotLinearizable Verdict = "not linearizable"
	Unknown         Verdict = "unknown"
)

// DefaultCheckTimeout bounds the linearizability search of Check when
// Options.Timeout is 0.
const DefaultCheckTimeout = time.Minute

// Options configure Check. The zero value checks the book's limit of 5
// bookings a date, for up to DefaultCheckTimeout.
type Options struct {
	// Limit is the most bookings a date may hold; 0 means 5.
	Limit int
	// Timeout bounds the search; 0 means DefaultCheckTimeout.
	Timeout time.Duration
}

// Counts are the Jepsen-style tallies of a history, from its settled
// state (the Final reads of each date) and what clients were told.
type Counts struct {
	// Ops is the number of operations recorded; OK, Fail and Info count
	// them by status.
	Ops  int `json:"ops"`
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
	// Acknowledged counts the BOOKs that were answered as done.
	Acknowledged int `json:"acknowledged"`
	// Lost counts acknowledged bookings missing from the settled state
	// although no UNBOOK of them was ever sent.
	Lost int `json:"lost"`
	// Unexpected counts settled bookings that no BOOK made: none was
	// acknowledged nor in doubt.
	Unexpected int `json:"unexpected"`
	// Duplicated counts bookings acknowledged twice with no UNBOOK of
	// them sent in between.
	Duplicated int `json:"duplicated"`
	// RecoveredInDoubt counts BOOKs in doubt whose booking is in the
	// settled state; InDoubt all BOOKs in doubt.
	RecoveredInDoubt int `json:"recovered_in_doubt"`
	InDoubt          int `json:"in_doubt"`
	// OverLimit counts the dates that a read ever showed with more than
	// the limit of bookings.
	OverLimit int `json:"over_limit_dates"`
}

// Result is the outcome of Check.
type Result struct {
	Verdict Verdict
	// Date is the first date whose operations no order explains; Op the
	// first of its operations that cannot be explained (the earliest to
	// return that no longest partial order takes in). Zero when
	// linearizable.
	Date wire.Date
	Op   *Op
	// Anomalies describe what the counts and the settled reads found
	// wrong, in words ("2 acknowledged bookings lost: ..."); the
	// BOOKINGSFORROOM answers are checked here, against the settled
	// state.
	Anomalies []string
	Counts    Counts
	// Checked is the number of operations the linearizability search
	// took (BOOK, UNBOOK and BOOKINGSONDATE that were not Fail), over
	// Dates dates; Took is how long it ran.
	Checked, Dates int
	Took           time.Duration

	model porcupine.Model
	info  porcupine.LinearizationInfo
	h     History
}

// OK reports whether the history passed: linearizable, and no anomaly.
func (r *Result) OK() bool { return r.Verdict == Linearizable && len(r.Anomalies) == 0 }

// Check asks whether some order of the history's operations, each taking
// effect at one instant between its call and its return (or, in doubt,
// at any time after its call, or never), explains every answer under the
// Building Services rules; and tallies and checks the settled state.
func Check(h History, opts Options) *Result {
	if opts.Limit == 0 {
		opts.Limit = 5
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultCheckTimeout
	}
	m := model(opts.Limit)
	ops := operations(h)
	r := &Result{model: m, h: h, Checked: len(ops)}
	dates := map[wire.Date]bool{}
	for _, o := range ops {
		dates[o.Input.(input).op.Date] = true
	}
	r.Dates = len(dates)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(m, ops, opts.Timeout)
	r.Took = time.Since(start)
	r.info = info
	switch res {
	case porcupine.Ok:
		r.Verdict = Linearizable
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
		r.Date, r.Op = firstUnexplained(m, ops, info, h)
	default:
		r.Verdict = Unknown
	}
	r.Counts, r.Anomalies = tally(h, opts.Limit)
	for _, a := range h.Faults {
		r.info.AddAnnotations([]porcupine.Annotation{{Tag: "faults", Start: a.Start, End: a.End, Description: a.What, BackgroundColor: "#fde2c8"}})
	}
	return r
}

// firstUnexplained finds, in the first date that fails, the operation
// that no partial order explains: of the operations not in the longest
// partial linearization, the one that returned first.
func firstUnexplained(m porcupine.Model, ops []porcupine.Operation, info porcupine.LinearizationInfo, h History) (wire.Date, *Op) {
	parts := m.Partition(ops)
	partials := info.PartialLinearizations()
	for p, part := range parts {
		// A partition is explained when one of its partial orders takes
		// every operation in.
		longest := []int{}
		if p < len(partials) {
			for _, l := range partials[p] {
				if len(l) > len(longest) {
					longest = l
				}
			}
		}
		if len(longest) == len(part) {
			continue
		}
		in := map[int]bool{}
		for _, i := range longest {
			in[i] = true
		}
		var first *porcupine.Operation
		for i := range part {
			if !in[i] && (first == nil || part[i].Return < first.Return) {
				first = &part[i]
			}
		}
		d := part[0].Input.(input).op.Date
		if first == nil {
			return d, nil
		}
		op := h.Ops[first.Metadata.(int)]
		return d, &op
	}
	return 0, nil
}

// tally counts the history and checks its settled state: the last Final
// BOOKINGSONDATE of each date, and the Final BOOKINGSFORROOM answers
// against it.
func tally(h History, limit int) (Counts, []string) {
	var c Counts
	type pair struct {
		room string
		date wire.Date
	}
	acked := map[pair][]Op{}   // BOOKs answered done
	unbooks := map[pair][]Op{} // UNBOOKs that may have removed a booking
	doubt := map[pair]bool{}
	doubtAny := map[pair]bool{} // BOOK or UNBOOK in doubt
	touched := map[wire.Date]bool{}
	finalFailed := map[string]map[wire.Date]bool{} // server -> dates it could not be read on
	finalOK := map[string]map[wire.Date]bool{}
	final := map[wire.Date][]string{}
	var roomReads []Op
	over := map[wire.Date]bool{}
	for _, o := range h.Ops {
		c.Ops++
		switch o.Status {
		case OK:
			c.OK++
		case Fail:
			c.Fail++
		case Info:
			c.Info++
		}
		p := pair{o.Room, o.Date}
		if (o.Action == wire.ActionBook || o.Action == wire.ActionUnbook) && o.Status != Fail {
			touched[o.Date] = true
			if o.Status == Info {
				doubtAny[p] = true
			}
		}
		if o.Action == wire.ActionBookingsOnDate && o.Final {
			m := finalFailed
			if o.Status == OK && o.Answer == Done {
				m = finalOK
			}
			if m[o.Server] == nil {
				m[o.Server] = map[wire.Date]bool{}
			}
			m[o.Server][o.Date] = true
		}
		switch {
		case o.Action == wire.ActionBook && o.Status == OK && o.Answer == Done:
			c.Acknowledged++
			acked[p] = append(acked[p], o)
		case o.Action == wire.ActionBook && o.Status == Info:
			c.InDoubt++
			doubt[p] = true
		case o.Action == wire.ActionUnbook && (o.Status == Info || o.Status == OK && o.Answer == Done):
			unbooks[p] = append(unbooks[p], o)
		case o.Action == wire.ActionBookingsOnDate && o.Status == OK && o.Answer == Done:
			if len(o.Rooms) > limit {
				over[o.Date] = true
			}
			if o.Final {
				final[o.Date] = o.Rooms
			}
		case o.Action == wire.ActionBookingsForRoom && o.Status == OK && o.Final:
			roomReads = append(roomReads, o)
		}
	}
	c.OverLimit = len(over)
	var anomalies []string
	var lost, unexpected, duplicated []string
	settled := map[pair]bool{}
	for d, rooms := range final {
		for _, room := range rooms {
			settled[pair{room, d}] = true
		}
	}
	// unbookedBetween reports whether an UNBOOK of p may have taken effect
	// after from's call and before to (an Info one: any time after its
	// call).
	unbookedBetween := func(p pair, from int64, to int64) bool {
		for _, u := range unbooks[p] {
			if u.Status == Info && u.Call < to || u.Return > from && u.Call < to {
				return true
			}
		}
		return false
	}
	const forever = int64(^uint64(0) >> 1)
	for p, books := range acked {
		if _, read := final[p.date]; !read {
			continue
		}
		last := books[len(books)-1]
		if !settled[p] && !unbookedBetween(p, last.Call, forever) {
			lost = append(lost, p.room+" on "+p.date.String())
		}
		for i := 1; i < len(books); i++ {
			// Either may have taken effect first: an UNBOOK anywhere in
			// the span of the two explains them.
			a, b := books[i-1], books[i]
			if !unbookedBetween(p, min(a.Call, b.Call), max(a.Return, b.Return)) {
				duplicated = append(duplicated, p.room+" on "+p.date.String())
				break
			}
		}
	}
	for p := range settled {
		switch {
		case doubt[p] && len(acked[p]) == 0:
			c.RecoveredInDoubt++
		case len(acked[p]) == 0 && !doubt[p]:
			unexpected = append(unexpected, p.room+" on "+p.date.String())
		}
	}
	c.Lost, c.Unexpected, c.Duplicated = len(lost), len(unexpected), len(duplicated)
	list := func(n int, what string, items []string) {
		if n == 0 {
			return
		}
		sort.Strings(items)
		if len(items) > 5 {
			items = append(items[:5], "...")
		}
		anomalies = append(anomalies, fmt.Sprintf("%d %s: %s", n, what, strings.Join(items, ", ")))
	}
	list(c.Lost, "acknowledged bookings lost (never cancelled, missing from the settled state)", lost)
	list(c.Unexpected, "bookings in the settled state that no BOOK made", unexpected)
	list(c.Duplicated, "bookings acknowledged twice", duplicated)
	if c.OverLimit > 0 {
		var ds []string
		for d := range over {
			ds = append(ds, d.String())
		}
		list(c.OverLimit, fmt.Sprintf("dates read with more than %d bookings", limit), ds)
	}
	var unsettled []string
	for d := range touched {
		if _, ok := final[d]; !ok {
			unsettled = append(unsettled, d.String())
		}
	}
	list(len(unsettled), "dates never settled (no BOOKINGSONDATE of them answered at the end, so nothing can be said of what they hold)", unsettled)
	for server, ds := range finalFailed {
		var missed []string
		for d := range ds {
			if !finalOK[server][d] {
				missed = append(missed, d.String())
			}
		}
		list(len(missed), "dates "+server+" could not be read on at the end (its answers cannot be checked against the others')", missed)
	}
	for _, o := range roomReads {
		// A pair with a write in doubt may have changed after the dates
		// were read: it says nothing here.
		var want, got []wire.Date
		for d, rooms := range final {
			if slices.Contains(rooms, o.Room) && !doubtAny[pair{o.Room, d}] {
				want = append(want, d)
			}
		}
		for _, d := range o.Dates {
			if _, ours := final[d]; ours && !doubtAny[pair{o.Room, d}] {
				got = append(got, d)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			anomalies = append(anomalies, fmt.Sprintf("BOOKINGSFORROOM %s (op %d) lists %v of the checked dates, but their settled BOOKINGSONDATE answers put it on %v", o.Room, o.ID, got, want))
		}
	}
	return c, anomalies
}

// WriteHTML writes porcupine's timeline of the history: every operation
// on its client's line, the faults on a line of their own and, when no
// order explains the answers, the longest partial orders and where they
// stop.
func (r *Result) WriteHTML(w io.Writer) error {
	return porcupine.Visualize(r.model, r.info, w)
}
