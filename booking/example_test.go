package booking_test

import (
	"context"
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

func Example() {
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{
		Now:      func() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) },
		Location: time.UTC,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()

	ctx := context.Background()
	dec1 := wire.DateOf(2026, 12, 1)
	for _, req := range []wire.Request{
		{Action: wire.ActionBook, Room: "312", Date: dec1},
		{Action: wire.ActionBook, Room: "312", Date: dec1},
		{Action: wire.ActionBook, Room: "101", Date: dec1},
		{Action: wire.ActionBook, Room: "9x9", Date: dec1},
		{Action: wire.ActionBook, Room: "312", Date: wire.DateOf(2026, 11, 1)},
		{Action: wire.ActionBookingsOnDate, Date: dec1},
		{Action: wire.ActionUnbook, Room: "220", Date: dec1},
	} {
		r := svc.Handle(ctx, req)
		if r.IsError() {
			fmt.Println("ERROR:", r.Message)
			continue
		}
		fmt.Println(r.Action, r.Room, r.Rooms, r.Date)
	}
	st := svc.Stats()
	fmt.Println("requests:", st.Requests(), "refused:", st.Refused)
	// Output:
	// BOOK 312 [] 2026-12-01
	// ERROR: Cannot accept duplicate booking
	// BOOK 101 [] 2026-12-01
	// ERROR: Invalid room "9x9": a room is three digits, floor 0-9 then room 01-34, like 312
	// ERROR: Cannot book 2026-11-01: the date is in the past (today is 2026-11-25)
	// BOOKINGSONDATE  [101 312] 2026-12-01
	// ERROR: Cannot unbook nonexistent booking
	// requests: 7 refused: 4
}

func ExampleService_ServeFrame() {
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{
		Now:      func() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) },
		Location: time.UTC,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()

	// The book's BOOK request for room 312 on 2026-12-01, without its
	// 2-byte size header.
	block := []byte{
		0x00, 0x00, 0x00, 0x08, 0x00, 'B', 0x00, 'O', 0x00, 'O', 0x00, 'K',
		0x00, 0x00, 0x00, 0x06, 0x00, '3', 0x00, '1', 0x00, '2',
		0x00, 0x25, 0x8e, 0xc0,
	}
	fmt.Printf("% x\n", svc.ServeFrame(context.Background(), block))

	// The same block cut short inside the room: an ERROR reply that says
	// what is wrong.
	var reply wire.Reply
	if err := reply.UnmarshalBinary(svc.ServeFrame(context.Background(), block[:20])); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply.Message)
	// Output:
	// 00 00 00 08 00 42 00 4f 00 4f 00 4b 00 00 00 06 00 33 00 31 00 32 00 25 8e c0
	// Malformed request: the room field is missing or cut short, at byte 12 (string of 6 bytes, 4 left)
}
