// Package client is a client of the Building Services room-booking
// protocol: Book, Unbook, BookingsOnDate and BookingsForRoom over one or
// more TCP connections, and Do for any request.
//
// # Exact reads
//
// A reply is read the way the protocol asks: the two size bytes, then
// exactly the block they announce, straight from the net.Conn with no
// buffered reader in between (wire.ReadFrame). The client never asks the
// connection for a byte past the end of the reply it is waiting for, so
// bytes that belong to the next reply, or to nobody, stay unread. Each
// request is written as one frame in a single Write.
//
// # Connections
//
// Dial makes a Client that dials its own connections: by default it keeps
// up to Config.MaxConns persistent connections and sends many requests on
// each, one after another; with Config.ConnPerRequest it opens a fresh
// connection for every request and closes it after the reply, like the
// book's own client. New wraps a connection you already have (net.Pipe, a
// TCP connection through a fault proxy, ...); such a Client cannot dial
// another, so once that connection breaks every call returns ErrConnLost.
//
// A connection is checked out for a whole request and its reply, so
// requests on one connection never interleave. After any I/O error, a
// reply cut short, a malformed reply or a reply that does not match its
// request, the connection is closed and never used again.
//
// # Errors
//
// An ERROR reply is a *ServerError carrying the server's message; a busy
// server's ERROR also matches ErrBusy. A connection closed cleanly between
// replies is io.EOF, one closed in the middle of a reply ErrTruncated
// (and io.ErrUnexpectedEOF). A deadline, from the context or from
// Config.Timeout, matches os.ErrDeadlineExceeded. A reply that does not
// parse, or lists what no server can mean (a room that is not a room, see
// wire.ValidRoom; a null date; a room or date twice), matches
// ErrMalformedReply. The Err variables list the rest, and Config.Retries
// gives the retry rules: queries are retried after a connection failure,
// bookings only when not one byte of them was sent.
//
// # A server's text
//
// What a server sends is not trusted to be fit for a terminal: the text of
// a *ServerError (its Error method) has control characters, bidirectional
// overrides and other invisible characters escaped, and Printable does the
// same for any other use. ServerError.Message keeps the server's text as
// it came.
//
// client imports package wire, internal/rawio (its sockets' raw reads and
// writes) and the standard library only, never the server, so it can be pointed at any server that speaks the protocol. It
// does not log: it returns errors and counts what it did (Stats).
package client
