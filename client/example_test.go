package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/poolside-dev/poolside/client"
)

func ExampleDial() {
	// An in-process toy server on 127.0.0.1:0 stands in for
	// 'poolside serve'.
	srv, err := startToyServer(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	date := time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)
	for _, room := range []string{"312", "101"} {
		if err := c.Book(ctx, room, date); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("Booked room %s for %s\n", room, date.Format(time.DateOnly))
	}
	rooms, err := c.BookingsOnDate(ctx, date)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Rooms booked on 2026-12-01:", rooms)
	// Output:
	// Booked room 312 for 2026-12-01
	// Booked room 101 for 2026-12-01
	// Rooms booked on 2026-12-01: [101 312]
}

// A refusal is a *ServerError with the server's message; a busy server's
// refusal also matches ErrBusy, and is safe to send again.
func ExampleServerError() {
	srv, err := startToyServer(1) // busy for the first request
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	date := time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		err := c.Book(ctx, "312", date)
		var refused *client.ServerError
		switch {
		case err == nil:
			fmt.Println("booked")
		case errors.Is(err, client.ErrBusy):
			fmt.Println("busy, try again later")
		case errors.As(err, &refused):
			fmt.Println("refused:", refused.Message)
		default:
			fmt.Println("failed:", err)
		}
	}
	// Output:
	// busy, try again later
	// booked
	// refused: Cannot accept duplicate booking
}

// With Retries, a busy reply is retried for every action, after a capped
// exponential backoff.
func ExampleConfig_retries() {
	srv, err := startToyServer(2) // busy for the first two requests
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{Retries: 3, RetryBackoff: time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	err = c.Book(ctx, "312", time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println("error:", err)
	fmt.Println("retries:", c.Stats().Retries)
	// Output:
	// error: <nil>
	// retries: 2
}

// New wraps a connection you already have: here one end of net.Pipe, with
// a stand-in server on the other.
func ExampleNew() {
	clientEnd, serverEnd := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveConn(serverEnd, 1, echoing)
	}()

	c := client.New(clientEnd, client.Config{Timeout: 5 * time.Second})
	err := c.Unbook(context.Background(), "312", time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println("unbooked:", err == nil)

	_ = c.Close() // closes clientEnd, so the server's loop ends
	<-done
	// Output:
	// unbooked: true
}
