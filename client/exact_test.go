package client_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// transport makes a connected pair of connections: the client's end and
// the server's. Both are closed by t.Cleanup.
type transport struct {
	name string
	pair func(t *testing.T) (clientEnd, serverEnd net.Conn)
}

var transports = []transport{
	{"pipe", func(t *testing.T) (net.Conn, net.Conn) {
		c, s := net.Pipe()
		t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
		return c, s
	}},
	{"tcp", tcpPair},
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	a := <-ch
	require.NoError(t, a.err)
	t.Cleanup(func() { _ = c.Close(); _ = a.c.Close() })
	return c, a.c
}

// TestTestConnIsAConn checks that the recording wrapper, with no fault
// set, is a well-behaved net.Conn (STYLE 15).
func TestTestConnIsAConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		p1, p2 := net.Pipe()
		c1, c2 = newTestConn(p1), newTestConn(p2)
		return c1, c2, func() { _ = c1.Close(); _ = c2.Close() }, nil
	})
}

// exchange is one request and the reply the test server sends for it.
type exchange struct {
	req wire.Request
	rep wire.Reply
}

var day = wire.DateOf(2026, 12, 1)

// script is a sequence of exchanges covering every kind of reply.
var script = []exchange{
	{wire.Request{Action: wire.ActionBook, Room: "312", Date: day},
		wire.Reply{Action: wire.ActionBook, Room: "312", Date: day}},
	{wire.Request{Action: wire.ActionBookingsOnDate, Date: day},
		wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: []string{"101", "312"}, Date: day}},
	{wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"},
		wire.Reply{Action: wire.ActionBookingsForRoom, Room: "312", Dates: []wire.Date{day, day + 4}}},
	{wire.Request{Action: wire.ActionBook, Room: "312", Date: day},
		wire.ErrorReply(wire.MsgDuplicate)},
	{wire.Request{Action: wire.ActionUnbook, Room: "101", Date: day + 1},
		wire.Reply{Action: wire.ActionUnbook, Room: "101", Date: day + 1}},
}

// replyStream returns the frames of the first n exchanges of script back
// to back, with the offset where each ends.
func replyStream(n int) (stream []byte, ends []int) {
	for _, e := range script[:n] {
		stream = append(stream, frame(e.rep)...)
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// doExchange runs e on c and checks that the call returned exactly e's
// reply: nil error and the reply, or a *ServerError and the ERROR reply.
func doExchange(t *testing.T, c *client.Client, e exchange) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := c.Do(ctx, e.req)
	if e.rep.IsError() {
		var se *client.ServerError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, e.rep.Message, se.Message)
	} else {
		require.NoError(t, err)
	}
	assert.Equal(t, e.rep, rep)
}

// TestReadsStopAtTheFrameEnd delivers several back-to-back replies and
// bytes nobody asked for, in pieces of one byte, of seeded random sizes,
// one frame at a time and all at once, and checks that every Read the
// client makes ends at or before the end of the reply it is reading, and
// that each call returns exactly its own reply.
func TestReadsStopAtTheFrameEnd(t *testing.T) {
	stream, ends := replyStream(len(script))
	// The start of another reply that never completes: the client must
	// leave it unread.
	trailing := frame(wire.Reply{Action: wire.ActionBook, Room: "999", Date: day})[:7]

	deliveries := []struct {
		name   string
		chunks func() [][]byte
	}{
		{"one byte at a time", func() (out [][]byte) {
			for i := range stream {
				out = append(out, stream[i:i+1])
			}
			return append(out, trailing)
		}},
		{"random sizes seed 1", func() [][]byte { return randomChunks(append(stream[:len(stream):len(stream)], trailing...), 1) }},
		{"random sizes seed 2", func() [][]byte { return randomChunks(append(stream[:len(stream):len(stream)], trailing...), 2) }},
		{"whole frames", func() (out [][]byte) {
			start := 0
			for _, end := range ends {
				out = append(out, stream[start:end])
				start = end
			}
			return append(out, trailing)
		}},
		{"all at once", func() [][]byte { return [][]byte{append(stream[:len(stream):len(stream)], trailing...)} }},
	}
	for _, tr := range transports {
		for _, dl := range deliveries {
			t.Run(tr.name+"/"+dl.name, func(t *testing.T) {
				clientEnd, serverEnd := tr.pair(t)
				rec := newTestConn(clientEnd)
				var wg sync.WaitGroup
				wg.Go(func() { drain(serverEnd) })
				wg.Go(func() {
					for _, ch := range dl.chunks() {
						if _, err := serverEnd.Write(ch); err != nil {
							return
						}
					}
				})
				c := client.New(rec, client.Config{})
				t.Cleanup(func() {
					_ = c.Close()
					_ = serverEnd.Close()
					wg.Wait()
				})

				for i, e := range script {
					_, before := rec.consumed()
					doExchange(t, c, e)
					off, reads := rec.consumed()
					require.Equal(t, ends[i], off, "call %d consumed up to byte %d, its reply ends at %d", i, off, ends[i])
					for _, r := range reads[len(before):] {
						assert.LessOrEqual(t, r.offset+r.asked, ends[i],
							"call %d: Read at offset %d asked for %d bytes, past the reply's end at %d", i, r.offset, r.asked, ends[i])
					}
				}
			})
		}
	}
}

// randomChunks splits b into pieces of 1 to 13 bytes chosen by seed.
func randomChunks(b []byte, seed uint64) (out [][]byte) {
	r := rand.New(rand.NewPCG(seed, seed))
	for len(b) > 0 {
		n := min(1+r.IntN(13), len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// TestCutAtEveryOffset pipelines three replies and cuts the connection at
// every byte offset in turn: a cut at a frame boundary is io.EOF for the
// next call, a cut inside a frame ErrTruncated (io.ErrUnexpectedEOF) for
// the call reading it; no partial reply is ever returned as a success, no
// call hangs, and the cut connection is never used again.
func TestCutAtEveryOffset(t *testing.T) {
	const replies = 3
	stream, ends := replyStream(replies)
	for _, tr := range transports {
		for cut := 0; cut <= len(stream); cut++ {
			t.Run(fmt.Sprintf("%s/cut=%d", tr.name, cut), func(t *testing.T) {
				full, start := 0, 0 // replies wholly before the cut; where the next starts
				for full < replies && ends[full] <= cut {
					start = ends[full]
					full++
				}
				clientEnd, serverEnd := tr.pair(t)
				var wg sync.WaitGroup
				wg.Go(func() {
					// The replies up to the cut are sent at once, ahead of
					// the requests; the connection is closed once the
					// client has sent every request it will send (so TCP
					// ends with FIN, not RST).
					var w sync.WaitGroup
					w.Go(func() {
						if cut > 0 {
							_, _ = serverEnd.Write(stream[:cut])
						}
					})
					var buf []byte
					for range full + 1 {
						b, err := wire.ReadFrame(serverEnd, buf)
						if err != nil {
							break
						}
						buf = b
					}
					w.Wait()
					_ = serverEnd.Close()
				})
				c := client.New(clientEnd, client.Config{})
				t.Cleanup(func() {
					_ = c.Close()
					_ = serverEnd.Close()
					wg.Wait()
				})

				for i := range full {
					doExchange(t, c, script[i])
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				rep, err := c.Do(ctx, script[full%replies].req)
				require.Error(t, err, "a call after the cut must fail")
				assert.Equal(t, wire.Reply{}, rep, "no partial reply")
				if cut == start {
					require.ErrorIs(t, err, io.EOF)
					assert.NotErrorIs(t, err, client.ErrTruncated)
				} else {
					require.ErrorIs(t, err, client.ErrTruncated)
					require.ErrorIs(t, err, io.ErrUnexpectedEOF)
					var te *wire.TruncatedError
					require.ErrorAs(t, err, &te)
					want := 2
					if cut-start >= 2 {
						want = ends[full] - start
					}
					assert.Equal(t, wire.TruncatedError{Got: cut - start, Want: want}, *te)
					assert.Contains(t, err.Error(), fmt.Sprintf("got %d of %d bytes", cut-start, want))
				}
				_, err = c.Do(ctx, script[0].req)
				require.ErrorIs(t, err, client.ErrConnLost, "the cut connection must not be reused")
			})
		}
	}
}
