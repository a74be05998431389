package booking

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/poolside-dev/poolside/wire"
)

// MemoryStore is a Store held in memory: two indexes (date to rooms, room to
// dates) behind one mutex, so the limit check and the insert of Book are one
// step. Nothing survives the process.
//
// The zero value is an empty store ready to use; NewMemoryStore returns the
// same thing. A MemoryStore is safe for concurrent use. After Close it drops
// its bookings and every method returns an error wrapping ErrClosed; Close
// may be called more than once.
type MemoryStore struct {
	mu     sync.RWMutex
	closed bool
	dates  map[wire.Date][]string // rooms booked on each date, sorted
	rooms  map[string][]wire.Date // dates each room is booked on, sorted
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// roomsPerDateCap bounds the capacity preallocated for a new date's rooms.
const roomsPerDateCap = 8

// Book implements Store. It returns ErrDuplicate and ErrFullyBooked bare,
// without allocating.
func (s *MemoryStore) Book(ctx context.Context, room string, date wire.Date, limit int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("booking: book %s on %s: %w", room, date, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: book %s on %s", ErrClosed, room, date)
	}
	rooms := s.dates[date]
	i, found := slices.BinarySearch(rooms, room)
	if found {
		return ErrDuplicate
	}
	if len(rooms) >= limit {
		return ErrFullyBooked
	}
	if s.dates == nil {
		s.dates = make(map[wire.Date][]string)
		s.rooms = make(map[string][]wire.Date)
	}
	if rooms == nil {
		rooms = make([]string, 0, min(limit, roomsPerDateCap))
	}
	s.dates[date] = slices.Insert(rooms, i, room)
	dates := s.rooms[room]
	j, _ := slices.BinarySearch(dates, date)
	s.rooms[room] = slices.Insert(dates, j, date)
	return nil
}

// Unbook implements Store. It returns ErrNotBooked bare.
func (s *MemoryStore) Unbook(ctx context.Context, room string, date wire.Date) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("booking: unbook %s on %s: %w", room, date, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: unbook %s on %s", ErrClosed, room, date)
	}
	rooms := s.dates[date]
	i, found := slices.BinarySearch(rooms, room)
	if !found {
		return ErrNotBooked
	}
	removeAt(s.dates, date, rooms, i)
	dates := s.rooms[room]
	j, _ := slices.BinarySearch(dates, date)
	removeAt(s.rooms, room, dates, j)
	return nil
}

// removeAt deletes element i of list, the value of m[k], and drops the key
// when the list becomes empty.
func removeAt[K comparable, V cmp.Ordered](m map[K][]V, k K, list []V, i int) {
	if len(list) == 1 {
		delete(m, k)
		return
	}
	m[k] = slices.Delete(list, i, i+1)
}

// RoomsOn implements Store.
func (s *MemoryStore) RoomsOn(ctx context.Context, date wire.Date) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("booking: rooms on %s: %w", date, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("%w: rooms on %s", ErrClosed, date)
	}
	return slices.Clone(s.dates[date]), nil
}

// DatesFor implements Store.
func (s *MemoryStore) DatesFor(ctx context.Context, room string) ([]wire.Date, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("booking: dates for %s: %w", room, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("%w: dates for %s", ErrClosed, room)
	}
	return slices.Clone(s.rooms[room]), nil
}

// Close implements Store: it drops every booking. It always returns nil.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dates, s.rooms = nil, nil
	return nil
}

// refusal returns the refusal a Book (unbook false, with limit) or an
// Unbook of room on date would get now, or nil when it would write. It
// changes nothing.
func (s *MemoryStore) refusal(unbook bool, room string, date wire.Date, limit int) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, found := slices.BinarySearch(s.dates[date], room)
	switch {
	case unbook && !found:
		return ErrNotBooked
	case unbook:
		return nil
	case found:
		return ErrDuplicate
	case len(s.dates[date]) >= limit:
		return ErrFullyBooked
	}
	return nil
}
