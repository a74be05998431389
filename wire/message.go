package wire

import (
	"fmt"
	"strings"
)

// The actions of the Building Services protocol, as sent on the wire.
const (
	ActionBook            = "BOOK"
	ActionUnbook          = "UNBOOK"
	ActionBookingsOnDate  = "BOOKINGSONDATE"
	ActionBookingsForRoom = "BOOKINGSFORROOM"
	// ActionError is the action of an error reply.
	ActionError = "ERROR"
)

// roomsSeparator joins the rooms of a BOOKINGSONDATE reply.
const roomsSeparator = ", "

// Request is one Building Services request. Every action carries a room
// and a date; BOOKINGSONDATE ignores the room and BOOKINGSFORROOM the date,
// but both are still on the wire.
type Request struct {
	Action string
	Room   string
	Date   Date
}

// AppendBinary appends the request's block (without the size header) to
// dst. It encodes any Action, known or not, so tests can send bad ones.
func (r Request) AppendBinary(dst []byte) ([]byte, error) {
	dst = AppendString(dst, r.Action)
	dst = AppendString(dst, r.Room)
	return AppendDate(dst, r.Date), nil
}

// MarshalBinary returns the request's block (without the size header).
func (r Request) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 64))
}

// UnmarshalBinary decodes a request block. An unknown action is a
// *ProtocolError wrapping ErrUnknownAction (r.Action is still set); a
// missing field, a bad string or bytes after the date are a *ProtocolError
// with the matching sentinel.
func (r *Request) UnmarshalBinary(block []byte) error {
	d := NewDecoder(block)
	*r = Request{}
	var err error
	if r.Action, err = d.String("action"); err != nil {
		return err
	}
	if !isRequestAction(r.Action) {
		return &ProtocolError{Field: "action", Err: fmt.Errorf("%w: %q", ErrUnknownAction, r.Action)}
	}
	if r.Room, err = d.String("room"); err != nil {
		return err
	}
	if r.Date, err = d.Date("date"); err != nil {
		return err
	}
	return d.Finish()
}

func isRequestAction(a string) bool {
	switch a {
	case ActionBook, ActionUnbook, ActionBookingsOnDate, ActionBookingsForRoom:
		return true
	}
	return false
}

// Reply is one Building Services reply. Which fields are on the wire
// depends on Action:
//
//	BOOK, UNBOOK       Room, Date (an echo of the request)
//	BOOKINGSONDATE     Rooms (sent as one string joined by ", "), Date
//	BOOKINGSFORROOM    Room, Dates (a qint32 count, then each QDate)
//	ERROR              Message
type Reply struct {
	Action  string
	Room    string
	Date    Date
	Rooms   []string
	Dates   []Date
	Message string
}

// ErrorReply returns an ERROR reply carrying msg.
func ErrorReply(msg string) Reply { return Reply{Action: ActionError, Message: msg} }

// IsError reports whether r is an ERROR reply.
func (r Reply) IsError() bool { return r.Action == ActionError }

// AppendBinary appends the reply's block (without the size header) to dst.
// An Action outside the protocol wraps ErrUnknownAction.
func (r Reply) AppendBinary(dst []byte) ([]byte, error) {
	dst = AppendString(dst, r.Action)
	switch r.Action {
	case ActionBook, ActionUnbook:
		dst = AppendString(dst, r.Room)
		dst = AppendDate(dst, r.Date)
	case ActionBookingsOnDate:
		dst = AppendString(dst, strings.Join(r.Rooms, roomsSeparator))
		dst = AppendDate(dst, r.Date)
	case ActionBookingsForRoom:
		dst = AppendString(dst, r.Room)
		dst = AppendInt32(dst, int32(len(r.Dates)))
		for _, d := range r.Dates {
			dst = AppendDate(dst, d)
		}
	case ActionError:
		dst = AppendString(dst, r.Message)
	default:
		return dst, fmt.Errorf("%w: cannot encode a reply for %q", ErrUnknownAction, r.Action)
	}
	return dst, nil
}

// MarshalBinary returns the reply's block (without the size header).
func (r Reply) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 64))
}

// UnmarshalBinary decodes a reply block; errors are *ProtocolError values
// as for Request.UnmarshalBinary. An empty rooms string decodes as no rooms.
func (r *Reply) UnmarshalBinary(block []byte) error {
	d := NewDecoder(block)
	*r = Reply{}
	var err error
	if r.Action, err = d.String("action"); err != nil {
		return err
	}
	switch r.Action {
	case ActionBook, ActionUnbook:
		if r.Room, err = d.String("room"); err != nil {
			return err
		}
		if r.Date, err = d.Date("date"); err != nil {
			return err
		}
	case ActionBookingsOnDate:
		rooms, err := d.String("rooms")
		if err != nil {
			return err
		}
		if rooms != "" {
			r.Rooms = strings.Split(rooms, roomsSeparator)
		}
		if r.Date, err = d.Date("date"); err != nil {
			return err
		}
	case ActionBookingsForRoom:
		if r.Room, err = d.String("room"); err != nil {
			return err
		}
		if err := r.decodeDates(&d); err != nil {
			return err
		}
	case ActionError:
		if r.Message, err = d.String("message"); err != nil {
			return err
		}
	default:
		return &ProtocolError{Field: "action", Err: fmt.Errorf("%w: %q", ErrUnknownAction, r.Action)}
	}
	return d.Finish()
}

func (r *Reply) decodeDates(d *Decoder) error {
	at := d.off
	n, err := d.Int32("count")
	if err != nil {
		return err
	}
	if n < 0 || int64(n)*4 > int64(d.Remaining()) {
		return &ProtocolError{Field: "count", Offset: at, Err: fmt.Errorf("%w: %d dates, %d bytes left", ErrBadCount, n, d.Remaining())}
	}
	r.Dates = make([]Date, n)
	for i := range r.Dates {
		r.Dates[i], _ = d.Date("dates")
	}
	return nil
}
