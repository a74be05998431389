package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// Status is what an operation's outcome says of its effect, the Jepsen
// way.
type Status int

// The statuses of an operation.
const (
	// OK: the server answered, and the answer says what happened (a
	// booking made, a refusal by a rule, the rooms of a date).
	OK Status = iota
	// Fail: the operation certainly had no effect: the server shed it
	// (busy), said it was not saved, or it was never sent
	// (client.ErrNotSent).
	Fail
	// Info: in doubt. The request went out and no answer came (a cut
	// reply, a reset, a timeout), or the server said so ("in doubt"): it
	// may take effect at any time after its call, or never.
	Info
)

var statusNames = [...]string{OK: "ok", Fail: "fail", Info: "info"}

// String returns "ok", "fail" or "info".
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "unknown"
	}
	return statusNames[s]
}

// Answer is what the server said to an OK operation.
type Answer int

// The answers.
const (
	// Done: BOOK or UNBOOK carried out; BOOKINGSONDATE or
	// BOOKINGSFORROOM answered (Rooms or Dates hold the answer).
	Done Answer = iota
	// Duplicate: BOOK refused, the room is booked on the date already.
	Duplicate
	// Full: BOOK refused, the date holds its limit of bookings.
	Full
	// NotBooked: UNBOOK refused, there is no such booking.
	NotBooked
	// Refused: refused by another rule (past date, past the horizon, an
	// invalid request): no effect, and nothing learnt of the state.
	Refused
	// Bad: a read answered with a reply that does not parse or does not
	// match its request (client.ErrMalformedReply, ErrMismatch), such as
	// a room listed twice. No state explains it: the checker fails it.
	Bad
)

var answerNames = [...]string{Done: "done", Duplicate: "duplicate", Full: "full", NotBooked: "not booked", Refused: "refused", Bad: "bad reply"}

// String names the answer.
func (a Answer) String() string {
	if a < 0 || int(a) >= len(answerNames) {
		return "unknown"
	}
	return answerNames[a]
}

// Op is one client operation of a history: its request, its outcome, and
// its call and return times on the Recorder's monotonic clock.
type Op struct {
	// ID is the operation's index in the history.
	ID int
	// Client is the client that made it (one request at a time each).
	Client int
	// Server is the address it was sent to.
	Server string
	// Action is wire.ActionBook, ActionUnbook, ActionBookingsOnDate or
	// ActionBookingsForRoom; Room and Date its arguments (Date is zero
	// for BOOKINGSFORROOM).
	Action string
	Room   string
	Date   wire.Date
	// Call and Return are nanoseconds since the Recorder started. An Info
	// operation's Return is when its client gave up on it.
	Call, Return int64
	// Status and, for OK, Answer, Rooms (BOOKINGSONDATE, sorted) and
	// Dates (BOOKINGSFORROOM, ascending).
	Status Status
	Answer Answer
	Rooms  []string
	Dates  []wire.Date
	// Detail is the error or the server's message, for people.
	Detail string
	// Final marks the settling reads made after the workload, over
	// healthy connections: their answers are the settled state.
	Final bool
}

// String describes the operation: "client 3: BOOK 312 2028-12-01 -> ok
// (done)".
func (o Op) String() string {
	what := o.Action
	switch o.Action {
	case wire.ActionBook, wire.ActionUnbook:
		what += " " + o.Room + " " + o.Date.String()
	case wire.ActionBookingsOnDate:
		what += " " + o.Date.String()
	case wire.ActionBookingsForRoom:
		what += " " + o.Room
	}
	out := o.Status.String()
	switch {
	case o.Status == OK && o.Action == wire.ActionBookingsOnDate:
		out += fmt.Sprintf(" %v", o.Rooms)
	case o.Status == OK && o.Action == wire.ActionBookingsForRoom:
		out += fmt.Sprintf(" %v", o.Dates)
	case o.Status == OK:
		out += " (" + o.Answer.String() + ")"
	case o.Detail != "":
		out += " (" + o.Detail + ")"
	}
	return fmt.Sprintf("op %d, client %d on %s: %s -> %s", o.ID, o.Client, o.Server, what, out)
}

// Fault is an event of the run that is not an operation, such as a fault
// a nemesis injected, shown on the timeline.
type Fault struct {
	// Start and End are on the Recorder's clock; End == Start for an
	// instant.
	Start, End int64
	// What describes it: "cut the link of instance 2".
	What string
}

// Recorder records a history. Its methods are safe for concurrent use.
type Recorder struct {
	start time.Time

	mu     sync.Mutex
	ops    []Op
	faults []Fault
}

// NewRecorder starts a history's clock.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now returns the time on the Recorder's clock (monotonic).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Do sends req with c, recording its call, its outcome and its return;
// client and server say who sent it where. It returns the operation.
func (r *Recorder) Do(ctx context.Context, c *client.Client, clientID int, server string, req wire.Request) Op {
	op := Op{Client: clientID, Server: server, Action: req.Action, Room: req.Room, Date: req.Date}
	op.Call = r.Now()
	rep, err := c.Do(ctx, req)
	op.Return = r.Now()
	Classify(&op, rep, err)
	return r.Add(op)
}

// Add records op, giving it its ID, and returns it.
func (r *Recorder) Add(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
	return op
}

// AddFault records a fault.
func (r *Recorder) AddFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
}

// History returns a copy of what was recorded.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{Ops: slices.Clone(r.ops), Faults: slices.Clone(r.faults)}
}

// History is a recorded run: its operations, in the order they were
// recorded, and its faults.
type History struct {
	Ops    []Op
	Faults []Fault
}

// Classify sets op's Status, Answer, Rooms, Dates and Detail from the
// reply and error client.Do gave for its request, for histories recorded
// by other means than a Recorder.
func Classify(op *Op, rep wire.Reply, err error) {
	var se *client.ServerError
	switch {
	case err == nil:
		op.Status, op.Answer = OK, Done
		op.Rooms = slices.Sorted(slices.Values(rep.Rooms))
		op.Dates = slices.Clone(rep.Dates)
	case errors.As(err, &se):
		op.Detail = se.Message
		op.Status, op.Answer = refusal(op, se.Message)
	case errors.Is(err, client.ErrNotSent):
		op.Status, op.Detail = Fail, "not sent: "+err.Error()
	case (errors.Is(err, client.ErrMalformedReply) || errors.Is(err, client.ErrMismatch)) && isRead(op.Action):
		// The server answered, and the answer is impossible: keep it, for
		// the checker to refuse.
		op.Status, op.Answer, op.Detail = OK, Bad, err.Error()
		return
	default:
		// Sent, and no answer that says what happened: a cut or reset
		// connection, a timeout, a reply that does not parse or match.
		op.Status, op.Detail = Info, err.Error()
	}
	if op.Status == Info && isRead(op.Action) {
		op.Status = Fail // a read with no answer changes nothing and says nothing
	}
}

// isRead reports whether action is one of the two queries.
func isRead(action string) bool {
	return action == wire.ActionBookingsOnDate || action == wire.ActionBookingsForRoom
}

// refusal classifies an ERROR reply to op.
func refusal(op *Op, msg string) (Status, Answer) {
	switch {
	case msg == wire.MsgBusy:
		return Fail, 0
	case booking.IsInDoubt(msg):
		return Info, 0
	case booking.IsStoreError(msg), msg == wire.MsgReadData:
		return Fail, 0 // the server says it did not do it
	case msg == wire.MsgInternal:
		// The handler failed somewhere: a write may have been carried out.
		if isRead(op.Action) {
			return Fail, 0
		}
		return Info, 0
	case msg == wire.MsgDuplicate && op.Action == wire.ActionBook:
		return OK, Duplicate
	case msg == wire.MsgFullyBooked(op.Date) && op.Action == wire.ActionBook:
		return OK, Full
	case msg == wire.MsgNotBooked && op.Action == wire.ActionUnbook:
		return OK, NotBooked
	case msg == wire.MsgNoRoomsOn(op.Date) && op.Action == wire.ActionBookingsOnDate:
		return OK, Done // no rooms
	case msg == wire.MsgRoomNotBooked(op.Room) && op.Action == wire.ActionBookingsForRoom:
		return OK, Done // no dates
	case isRead(op.Action):
		return Fail, 0 // a read refused: it says nothing of the state
	case strings.HasPrefix(msg, "Cannot book "), strings.HasPrefix(msg, "Invalid room"), msg == booking.MsgNullDate,
		strings.HasPrefix(msg, booking.MsgMalformedPrefix), msg == wire.MsgUnrecognized:
		return OK, Refused // a rule of the server's (past date, horizon) or an invalid request: no effect
	}
	// An ERROR this package does not know: the write may or may not have
	// been carried out.
	return Info, 0
}
