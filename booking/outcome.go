package booking

import (
	"bytes"

	"github.com/poolside-dev/poolside/wire"
)

// Outcome is what a Service's reply says of its request: the label of the
// server's latency and request metrics, chosen so that an alert on
// OutcomeError fires only when the server failed, never on normal traffic.
type Outcome int

// The outcomes of a reply. A request the server shed with its busy reply
// is counted apart, by the server, which knows it refused it.
const (
	// OutcomeOK: the request was carried out, or a query found bookings.
	OutcomeOK Outcome = iota
	// OutcomeEmpty: a query that found nothing, such as "room 312 is not
	// booked" (the CLI's exit status 0).
	OutcomeEmpty
	// OutcomeRefused: the request was refused by a rule (duplicate, fully
	// booked, no such booking, past date, past the horizon) or as invalid
	// (a bad room, a null date, a malformed block, an unknown action).
	// The client asked for something the server may not do.
	OutcomeRefused
	// OutcomeError: the server failed, so the request may not have been
	// carried out: the store failed (MsgStoreError), the handler failed
	// (wire.MsgInternal), or the answer did not fit in a block
	// (MsgReplyTooLarge).
	OutcomeError
)

var outcomeNames = [...]string{OutcomeOK: "ok", OutcomeEmpty: "empty", OutcomeRefused: "refused", OutcomeError: "error"}

// String returns "ok", "empty", "refused" or "error".
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

var errorPrefix = wire.AppendString(nil, wire.ActionError)

// ReplyOutcome returns the outcome of reply, the block a Service's
// ServeFrame answered the request block req with (both without their size
// headers). A reply that is not an ERROR is OutcomeOK, decided from its
// first bytes without decoding it; an ERROR is decoded and classified by
// the message the Service sent. It is safe for concurrent use.
func ReplyOutcome(req, reply []byte) Outcome {
	if !bytes.HasPrefix(reply, errorPrefix) {
		return OutcomeOK
	}
	var r wire.Reply
	if err := r.UnmarshalBinary(reply); err != nil {
		return OutcomeError // a Service never sends such a block
	}
	msg := r.Message
	if msg == wire.MsgInternal || msg == MsgReplyTooLarge || IsStoreError(msg) {
		return OutcomeError
	}
	var q wire.Request
	if err := q.UnmarshalBinary(req); err == nil {
		switch {
		case q.Action == wire.ActionBookingsOnDate && msg == wire.MsgNoRoomsOn(q.Date),
			q.Action == wire.ActionBookingsForRoom && msg == wire.MsgRoomNotBooked(q.Room):
			return OutcomeEmpty
		}
	}
	return OutcomeRefused
}

// IsStoreError reports whether msg, the text of an ERROR reply, is one
// that MsgStoreError builds.
func IsStoreError(msg string) bool { return storeErrorMsgs[msg] }

// storeErrorMsgs are every text MsgStoreError builds.
var storeErrorMsgs = func() map[string]bool {
	m := map[string]bool{}
	for _, action := range []string{wire.ActionBook, wire.ActionUnbook, wire.ActionBookingsOnDate, wire.ActionBookingsForRoom} {
		for _, err := range []error{nil, ErrClosed, ErrUnavailable, ErrInDoubt} {
			m[MsgStoreError(action, err)] = true
		}
	}
	return m
}()
