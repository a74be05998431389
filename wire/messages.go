package wire

// The texts of ERROR replies. The first group is sent by the book's own
// servers and must stay identical, byte for byte; the second group is
// poolside's, for conditions the book did not handle. They live here, with
// the codec, because servers send them and clients recognise them.
const (
	MsgDuplicate    = "Cannot accept duplicate booking"
	MsgNotBooked    = "Cannot unbook nonexistent booking"
	MsgUnrecognized = "Unrecognized request"
	// MsgReadRequest is the book's threaded server's reply when no request
	// arrives in time.
	MsgReadRequest = "Cannot read client request"
	// MsgReadData is the reply when a request started but did not finish
	// within the server's read timeout.
	MsgReadData = "Cannot read client data"

	// MsgBusy is the reply when the server sheds load (pool and queue
	// full, or too many connections).
	MsgBusy = "Server busy, try again later"
	// MsgInternal is the reply when the handler failed unexpectedly.
	MsgInternal = "Internal server error"
)

// MsgFullyBooked is the reply when date already has the maximum number of
// bookings: "YYYY-MM-DD is fully booked".
func MsgFullyBooked(d Date) string { return d.String() + " is fully booked" }

// MsgNoRoomsOn is the BOOKINGSONDATE reply when nothing is booked on d.
func MsgNoRoomsOn(d Date) string { return "there are no rooms booked on " + d.String() }

// MsgRoomNotBooked is the BOOKINGSFORROOM reply when room has no bookings.
func MsgRoomNotBooked(room string) string { return "room " + room + " is not booked" }

// ErrorBlock returns the encoded block of an ERROR reply carrying msg.
func ErrorBlock(msg string) []byte {
	b, _ := ErrorReply(msg).MarshalBinary() // an ERROR reply always encodes
	return b
}

// ServerReplies returns the blocks a Building Services server sends on its
// own: when it sheds load (MsgBusy), when a request does not arrive in
// time (MsgReadData) and when its handler fails (MsgInternal). Each call
// returns new slices.
func ServerReplies() (busy, readTimeout, internal []byte) {
	return ErrorBlock(MsgBusy), ErrorBlock(MsgReadData), ErrorBlock(MsgInternal)
}
