package booking

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/wire"
)

// MaxBookingsPerDay is the book's MAX_BOOKINGS_PER_DAY: how many rooms may
// be booked on one date when Config.MaxPerDay is zero.
const MaxBookingsPerDay = 5

// DefaultHorizon is how many days after today a BOOK may be for when
// Config.Horizon is zero: two years, so that one room's BOOKINGSFORROOM
// reply is at most about 3 KB.
const DefaultHorizon = 730

// LastDate is the last date a BOOK may be for, whatever the horizon:
// 9999-12-31. Later dates fit in a QDate but not in the clients that read
// them (Python's datetime, PyQt's QDate.toPyDate), so one booking past it
// would make every later BOOKINGSFORROOM of its room fail in those clients.
var LastDate = wire.DateOf(9999, time.December, 31)

// Config configures a Service. The zero value is the book's rules on the
// local calendar: every zero field means the default named in its comment.
type Config struct {
	// MaxPerDay is how many rooms may be booked on one date. Zero means
	// MaxBookingsPerDay (5).
	MaxPerDay int

	// Horizon is how many days after today a BOOK may be for: a BOOK of a
	// later date is refused with MsgBeyondHorizon, which names the last
	// date allowed. Whatever Horizon says, no date after LastDate is
	// booked. Queries and UNBOOK of any date stay allowed. Zero means
	// DefaultHorizon (730).
	Horizon int

	// Now returns the current time; a BOOK of a date before today's date
	// is refused. Nil means time.Now.
	Now func() time.Time

	// Location is the time zone today's date is taken in. Nil means
	// time.Local.
	Location *time.Location

	// OnStoreError, if not nil, is called each time a request fails
	// because the store did (a full disk, an I/O error, a closed store),
	// with the request's action and the store's error, before the client
	// is answered with MsgStoreError. The Service does not log, so this is
	// how the operator hears of it. It runs on the request's goroutine, so
	// it must be quick and safe for concurrent use.
	OnStoreError func(action string, err error)
}

// Validate reports fields out of range as an error wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	if c.MaxPerDay < 0 {
		return fmt.Errorf("%w: MaxPerDay is %d, want >= 0 (0 = %d)", ErrInvalidConfig, c.MaxPerDay, MaxBookingsPerDay)
	}
	if c.Horizon < 0 {
		return fmt.Errorf("%w: Horizon is %d days, want >= 0 (0 = %d)", ErrInvalidConfig, c.Horizon, DefaultHorizon)
	}
	return nil
}

// Stats is a snapshot of a Service's counters, all counting since New.
// Every request is counted once in exactly one of Book, Unbook,
// BookingsOnDate, BookingsForRoom, Unrecognized and Malformed; Refused and
// StoreErrors count outcomes of the four actions.
type Stats struct {
	Book            uint64 // BOOK requests
	Unbook          uint64 // UNBOOK requests
	BookingsOnDate  uint64 // BOOKINGSONDATE requests
	BookingsForRoom uint64 // BOOKINGSFORROOM requests
	Unrecognized    uint64 // requests with an unknown action
	Malformed       uint64 // blocks that did not parse (ServeFrame only)

	// Refused counts ERROR replies to BOOK and UNBOOK that a rule decided:
	// duplicate, fully booked, not booked, invalid room, null date, past
	// date, date past the horizon. Invalid rooms and null dates in the two queries are counted
	// too; a query that finds nothing is not.
	Refused uint64

	// StoreErrors counts requests the store failed (ERROR replies built by
	// MsgStoreError), including those made after Close.
	StoreErrors uint64
}

// Requests returns the total number of requests counted in st.
func (st Stats) Requests() uint64 {
	return st.Book + st.Unbook + st.BookingsOnDate + st.BookingsForRoom + st.Unrecognized + st.Malformed
}

type counters struct {
	book, unbook, onDate, forRoom, unrecognized, malformed atomic.Uint64
	refused, storeErrors                                   atomic.Uint64
}

// Service answers Building Services requests against a Store, applying the
// protocol's rules (see PROTOCOL.md, "Rules and error messages") and
// poolside's extra checks. Its ServeFrame is the server's handler.
//
// Create one with New; the zero value is not usable. A Service is safe for
// concurrent use; the store's own atomicity keeps concurrent bookings of one
// date within the limit. After Close, requests that need the store are
// answered with a storage-error reply (MsgStoreError wrapping ErrClosed).
type Service struct {
	store     Store
	maxPerDay int
	horizon   int
	now       func() time.Time
	loc       *time.Location
	onStore   func(action string, err error)

	stats     counters
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New returns a Service over store. It fails with an error wrapping
// ErrInvalidConfig when cfg is invalid or store is nil. The Service owns
// store from then on: Service.Close closes it.
func New(store Store, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrInvalidConfig)
	}
	s := &Service{store: store, maxPerDay: cfg.MaxPerDay, horizon: cfg.Horizon, now: cfg.Now, loc: cfg.Location, onStore: cfg.OnStoreError}
	if s.maxPerDay == 0 {
		s.maxPerDay = MaxBookingsPerDay
	}
	if s.horizon == 0 {
		s.horizon = DefaultHorizon
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	return s, nil
}

// Handle answers one decoded request. Success of BOOK and UNBOOK echoes the
// request; a refusal, an invalid input, an unknown action or a store
// failure is an ERROR reply. Handle never reports success for a booking the
// store did not confirm.
func (s *Service) Handle(ctx context.Context, req wire.Request) wire.Reply {
	switch req.Action {
	case wire.ActionBook:
		s.stats.book.Add(1)
		return s.book(ctx, req)
	case wire.ActionUnbook:
		s.stats.unbook.Add(1)
		return s.unbook(ctx, req)
	case wire.ActionBookingsOnDate:
		s.stats.onDate.Add(1)
		return s.bookingsOnDate(ctx, req)
	case wire.ActionBookingsForRoom:
		s.stats.forRoom.Add(1)
		return s.bookingsForRoom(ctx, req)
	}
	s.stats.unrecognized.Add(1)
	return wire.ErrorReply(wire.MsgUnrecognized)
}

func (s *Service) refuse(msg string) wire.Reply {
	s.stats.refused.Add(1)
	return wire.ErrorReply(msg)
}

func (s *Service) storeFailed(action string, err error) wire.Reply {
	s.stats.storeErrors.Add(1)
	if s.onStore != nil {
		s.onStore(action, err)
	}
	return wire.ErrorReply(MsgStoreError(action, err))
}

// checkOpen returns the error a closed Service answers with.
func (s *Service) checkOpen(action string) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %s after Close", ErrClosed, action)
	}
	return nil
}

// today is the current calendar date in the configured location.
func (s *Service) today() wire.Date { return wire.FromTime(s.now().In(s.loc)) }

// lastBookable is the last date a BOOK made today may be for: today plus
// the horizon, and never after LastDate.
func (s *Service) lastBookable(today wire.Date) wire.Date {
	if uint64(today)+uint64(s.horizon) >= uint64(LastDate) {
		return LastDate
	}
	return today + wire.Date(s.horizon)
}

func (s *Service) book(ctx context.Context, req wire.Request) wire.Reply {
	if !wire.ValidRoom(req.Room) {
		return s.refuse(MsgInvalidRoom(req.Room))
	}
	if req.Date.IsNull() {
		return s.refuse(MsgNullDate)
	}
	today := s.today()
	if req.Date < today {
		return s.refuse(MsgPastDate(req.Date, today))
	}
	if last := s.lastBookable(today); req.Date > last {
		return s.refuse(MsgBeyondHorizon(req.Date, last))
	}
	err := s.checkOpen(req.Action)
	if err == nil {
		err = s.store.Book(ctx, req.Room, req.Date, s.maxPerDay)
	}
	switch {
	case err == nil:
		return wire.Reply{Action: wire.ActionBook, Room: req.Room, Date: req.Date}
	case errors.Is(err, ErrDuplicate):
		return s.refuse(wire.MsgDuplicate)
	case errors.Is(err, ErrFullyBooked):
		return s.refuse(wire.MsgFullyBooked(req.Date))
	}
	return s.storeFailed(req.Action, err)
}

func (s *Service) unbook(ctx context.Context, req wire.Request) wire.Reply {
	if !wire.ValidRoom(req.Room) {
		return s.refuse(MsgInvalidRoom(req.Room))
	}
	if req.Date.IsNull() {
		return s.refuse(MsgNullDate)
	}
	err := s.checkOpen(req.Action)
	if err == nil {
		err = s.store.Unbook(ctx, req.Room, req.Date)
	}
	switch {
	case err == nil:
		return wire.Reply{Action: wire.ActionUnbook, Room: req.Room, Date: req.Date}
	case errors.Is(err, ErrNotBooked):
		return s.refuse(wire.MsgNotBooked)
	}
	return s.storeFailed(req.Action, err)
}

func (s *Service) bookingsOnDate(ctx context.Context, req wire.Request) wire.Reply {
	if req.Date.IsNull() {
		return s.refuse(MsgNullDate)
	}
	var rooms []string
	err := s.checkOpen(req.Action)
	if err == nil {
		rooms, err = s.store.RoomsOn(ctx, req.Date)
	}
	switch {
	case err != nil:
		return s.storeFailed(req.Action, err)
	case len(rooms) == 0:
		return wire.ErrorReply(wire.MsgNoRoomsOn(req.Date))
	}
	return wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: rooms, Date: req.Date}
}

func (s *Service) bookingsForRoom(ctx context.Context, req wire.Request) wire.Reply {
	if !wire.ValidRoom(req.Room) {
		return s.refuse(MsgInvalidRoom(req.Room))
	}
	var dates []wire.Date
	err := s.checkOpen(req.Action)
	if err == nil {
		dates, err = s.store.DatesFor(ctx, req.Room)
	}
	switch {
	case err != nil:
		return s.storeFailed(req.Action, err)
	case len(dates) == 0:
		return wire.ErrorReply(wire.MsgRoomNotBooked(req.Room))
	}
	return wire.Reply{Action: wire.ActionBookingsForRoom, Room: req.Room, Dates: dates}
}

// ServeFrame decodes one request block (without its size header), handles
// it and returns the encoded reply block (without its size header); it is
// the server's handler. An unknown action is answered with
// wire.MsgUnrecognized, any other block that does not parse with
// MsgMalformed. The returned block is always at most wire.MaxBlock bytes
// and is newly allocated; block is not retained.
func (s *Service) ServeFrame(ctx context.Context, block []byte) []byte {
	var req wire.Request
	if err := req.UnmarshalBinary(block); err != nil {
		if errors.Is(err, wire.ErrUnknownAction) {
			s.stats.unrecognized.Add(1)
			return wire.ErrorBlock(wire.MsgUnrecognized)
		}
		s.stats.malformed.Add(1)
		return wire.ErrorBlock(MsgMalformed(err))
	}
	return encodeReply(s.Handle(ctx, req))
}

// encodeReply encodes r, or an ERROR block when r cannot be sent.
func encodeReply(r wire.Reply) []byte {
	b, err := r.AppendBinary(make([]byte, 0, replySize(r)))
	switch {
	case err != nil:
		return wire.ErrorBlock(wire.MsgInternal)
	case len(b) > wire.MaxBlock:
		return wire.ErrorBlock(MsgReplyTooLarge)
	}
	return b
}

// replySize estimates the encoded size of r for ASCII texts, so encoding
// usually allocates once.
func replySize(r wire.Reply) int {
	n := 4 + 2*len(r.Action) + 4 + 2*len(r.Room) + 4 + 2*len(r.Message) + 4*len(r.Dates)
	for _, room := range r.Rooms {
		n += 2 * (len(room) + 2)
	}
	return n
}

// Stats returns a snapshot of the counters. It is safe to call
// concurrently with requests and after Close.
func (s *Service) Stats() Stats {
	return Stats{
		Book:            s.stats.book.Load(),
		Unbook:          s.stats.unbook.Load(),
		BookingsOnDate:  s.stats.onDate.Load(),
		BookingsForRoom: s.stats.forRoom.Load(),
		Unrecognized:    s.stats.unrecognized.Load(),
		Malformed:       s.stats.malformed.Load(),
		Refused:         s.stats.refused.Load(),
		StoreErrors:     s.stats.storeErrors.Load(),
	}
}

// Close closes the store. Later calls return the first call's result.
// Requests in flight finish against the store, which decides what a close
// under them means (both stores here let them finish or fail them with
// ErrClosed).
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.store.Close()
	})
	return s.closeErr
}
