package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// cliAnswer says what a cliServer does with a request: write out (if
// any), then close the connection if closeAfter is set.
type cliAnswer func(wire.Request) (out []byte, closeAfter bool)

// cliServer is a fake Building Services server for the CLI tests: it
// answers each request as its cliAnswer says and records what it saw.
type cliServer struct {
	ln     net.Listener
	answer cliAnswer
	reset  bool // close with an RST (SO_LINGER 0) rather than a FIN
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    int
	requests []wire.Request
	open     map[net.Conn]struct{}
}

func startCLIServer(t *testing.T, answer cliAnswer) *cliServer {
	t.Helper()
	return startCLIServerReset(t, answer, false)
}

// startCLIServerReset is startCLIServer, but when reset is set the server
// resets the connections it closes after an answer (an RST, as a crashing
// server's kernel sends) instead of closing them cleanly.
func startCLIServerReset(t *testing.T, answer cliAnswer, reset bool) *cliServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &cliServer{ln: ln, answer: answer, reset: reset, open: make(map[net.Conn]struct{})}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *cliServer) addr() string { return s.ln.Addr().String() }

func (s *cliServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.open[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				_ = c.Close()
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
			var buf []byte
			for {
				block, err := wire.ReadFrame(c, buf)
				if err != nil {
					return
				}
				buf = block
				var req wire.Request
				_ = req.UnmarshalBinary(block)
				s.mu.Lock()
				s.requests = append(s.requests, req)
				s.mu.Unlock()
				out, closeAfter := s.answer(req)
				if len(out) > 0 {
					if _, err := c.Write(out); err != nil {
						return
					}
				}
				if closeAfter {
					if s.reset {
						_ = c.(*net.TCPConn).SetLinger(0)
					}
					return
				}
			}
		})
	}
}

// seen returns the number of connections and the requests received.
func (s *cliServer) seen() (int, []wire.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]wire.Request(nil), s.requests...)
}

func replyFrame(rep wire.Reply) []byte {
	b, err := rep.MarshalBinary()
	if err != nil {
		panic(err)
	}
	f, err := wire.AppendFrame(nil, b)
	if err != nil {
		panic(err)
	}
	return f
}

// goodServer answers like a server with rooms 101 and 312 booked on
// 2026-12-01, and room 312 booked on 2026-12-01 and 2026-12-05; any other
// date or room has no bookings.
func goodServer(req wire.Request) ([]byte, bool) { return goodReply(req), false }

func goodReply(req wire.Request) []byte {
	dec1 := wire.DateOf(2026, 12, 1)
	switch req.Action {
	case wire.ActionBookingsOnDate:
		if req.Date != dec1 {
			return replyFrame(wire.ErrorReply(wire.MsgNoRoomsOn(req.Date)))
		}
		return replyFrame(wire.Reply{Action: req.Action, Rooms: []string{"101", "312"}, Date: req.Date})
	case wire.ActionBookingsForRoom:
		if req.Room != "312" {
			return replyFrame(wire.ErrorReply(wire.MsgRoomNotBooked(req.Room)))
		}
		return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{dec1, dec1 + 4}})
	}
	return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Date: req.Date})
}

// runCLI runs poolside with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestClientCommandsSucceed(t *testing.T) {
	s := startCLIServer(t, goodServer)
	dec1 := wire.DateOf(2026, 12, 1)
	tests := []struct {
		args []string
		out  string
		req  wire.Request
	}{
		{[]string{"book", "312", "2026-12-01"}, "Booked room 312 for 2026-12-01\n",
			wire.Request{Action: wire.ActionBook, Room: "312", Date: dec1}},
		{[]string{"unbook", "034", "2026-12-01"}, "Unbooked room 034 for 2026-12-01\n",
			wire.Request{Action: wire.ActionUnbook, Room: "034", Date: dec1}},
		{[]string{"bookings", "--date", "2026-12-01"}, "Rooms booked on 2026-12-01:\n101\n312\n",
			wire.Request{Action: wire.ActionBookingsOnDate, Date: dec1}},
		{[]string{"bookings", "--date", "2026-12-02"}, "No rooms are booked on 2026-12-02\n",
			wire.Request{Action: wire.ActionBookingsOnDate, Date: dec1 + 1}},
		{[]string{"bookings", "--room", "312"}, "Room 312 is booked on:\n2026-12-01\n2026-12-05\n",
			wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"}},
		{[]string{"bookings", "--room", "101"}, "Room 101 is not booked\n",
			wire.Request{Action: wire.ActionBookingsForRoom, Room: "101"}},
	}
	for i, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, err := runCLI(t, append(tt.args, "--addr", s.addr())...)
			require.NoError(t, err)
			assert.Equal(t, exitOK, exitCode(err))
			assert.Equal(t, tt.out, stdout)
			assert.Empty(t, stderr)
			conns, reqs := s.seen()
			assert.Equal(t, i+1, conns, "one connection per command")
			require.Len(t, reqs, i+1)
			assert.Equal(t, tt.req, reqs[i])
		})
	}
}

func TestClientCommandsJSON(t *testing.T) {
	s := startCLIServer(t, goodServer)
	tests := []struct {
		args []string
		want map[string]any
	}{
		{[]string{"book", "312", "2026-12-01"}, map[string]any{"action": "BOOK", "room": "312", "date": "2026-12-01", "ok": true}},
		{[]string{"unbook", "312", "2026-12-01"}, map[string]any{"action": "UNBOOK", "room": "312", "date": "2026-12-01", "ok": true}},
		{[]string{"bookings", "--date", "2026-12-01"}, map[string]any{"date": "2026-12-01", "rooms": []any{"101", "312"}}},
		{[]string{"bookings", "--date", "2026-12-02"}, map[string]any{"date": "2026-12-02", "rooms": []any{}}},
		{[]string{"bookings", "--room", "312"}, map[string]any{"room": "312", "dates": []any{"2026-12-01", "2026-12-05"}}},
		{[]string{"bookings", "--room", "101"}, map[string]any{"room": "101", "dates": []any{}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, _, err := runCLI(t, append(tt.args, "--json", "--addr", s.addr())...)
			require.NoError(t, err)
			assert.Equal(t, 1, strings.Count(stdout, "\n"), "one line")
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(stdout), &got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestClientCommandsRefused(t *testing.T) {
	s := startCLIServer(t, func(wire.Request) ([]byte, bool) { return replyFrame(wire.ErrorReply(wire.MsgDuplicate)), false })
	stdout, _, err := runCLI(t, "book", "--addr", s.addr(), "312", "2026-12-01")
	require.Error(t, err)
	assert.Equal(t, exitRefused, exitCode(err))
	assert.EqualError(t, err, wire.MsgDuplicate, "main prints the server's message on stderr")
	var se *client.ServerError
	require.ErrorAs(t, err, &se)
	assert.Empty(t, stdout)

	s2 := startCLIServer(t, func(wire.Request) ([]byte, bool) { return replyFrame(wire.ErrorReply(wire.MsgBusy)), false })
	_, _, err = runCLI(t, "bookings", "--addr", s2.addr(), "--room", "312")
	assert.Equal(t, exitRefused, exitCode(err))
	require.ErrorIs(t, err, client.ErrBusy)
}

// TestClientCommandsUsage checks that bad input is exit status 2 and that
// nothing is sent: the server sees no connection.
func TestClientCommandsUsage(t *testing.T) {
	s := startCLIServer(t, goodServer)
	tests := []struct {
		args []string
		msg  string // part of the message
	}{
		{[]string{"book", "31", "2026-12-01"}, `invalid room "31": want three digits`},
		{[]string{"book", "300", "2026-12-01"}, `invalid room "300"`},
		{[]string{"book", "335", "2026-12-01"}, `invalid room "335"`},
		{[]string{"book", "a12", "2026-12-01"}, `invalid room "a12"`},
		{[]string{"book", "3120", "2026-12-01"}, `invalid room "3120"`},
		{[]string{"book", "312", "2026-13-01"}, `invalid date "2026-13-01": there is no month 13 (months run from 01 to 12)`},
		{[]string{"book", "312", "2026-02-30"}, `invalid date "2026-02-30": February of the year 2026 has 28 days`},
		{[]string{"book", "312", "2028-02-30"}, `invalid date "2028-02-30": February of the year 2028 has 29 days`},
		{[]string{"book", "312", "2026-12-00"}, `invalid date "2026-12-00": days start at 01`},
		{[]string{"book", "312", "1/12/2026"}, `invalid date "1/12/2026"`},
		{[]string{"book", "312", "2026-12-1"}, `invalid date "2026-12-1"`},
		{[]string{"unbook", "312"}, "accepts 2 arg(s), received 1"},
		{[]string{"book", "312", "2026-12-01", "extra"}, "accepts 2 arg(s), received 3"},
		{[]string{"book", "--timeout", "-1s", "312", "2026-12-01"}, "--timeout must not be negative"},
		{[]string{"book", "--timeout", "soon", "312", "2026-12-01"}, "invalid argument"},
		{[]string{"book", "--nope", "312", "2026-12-01"}, "unknown flag"},
		{[]string{"book", "--addr", "localhost", "312", "2026-12-01"}, "is not host:port"},
		{[]string{"bookings"}, "give exactly one of --date DATE or --room ROOM"},
		{[]string{"bookings", "--date", "2026-12-01", "--room", "312"}, "give exactly one of"},
		{[]string{"bookings", "--date", "tomorrow"}, `invalid date "tomorrow"`},
		{[]string{"bookings", "--room", "12"}, `invalid room "12"`},
		{[]string{"bookings", "--room", "312", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{tt.args[0], "--addr", s.addr()}, tt.args[1:]...)
			if strings.Contains(strings.Join(tt.args, " "), "--addr") {
				args = tt.args
			}
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "error: %v", err)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Empty(t, stdout)
		})
	}
	// A good command afterwards is the server's first connection, so none
	// of the bad ones connected.
	_, _, err := runCLI(t, "book", "--addr", s.addr(), "312", "2026-12-01")
	require.NoError(t, err)
	conns, reqs := s.seen()
	assert.Equal(t, 1, conns)
	assert.Len(t, reqs, 1)
}

// closedAddr returns a loopback address that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestClientCommandsNetworkFailures: each way a request can fail on the
// network is exit status 3 with a message for a person, in one style, and
// for BOOK and UNBOOK every failure after the request may have reached the
// server says the booking is in doubt and how to check it.
func TestClientCommandsNetworkFailures(t *testing.T) {
	full := replyFrame(wire.Reply{Action: wire.ActionBook, Room: "312", Date: wire.DateOf(2026, 12, 1)})
	inDoubt := func(addr string) string {
		return ": the request may or may not have been carried out (check with 'poolside bookings --date 2026-12-01 --addr " + addr + "')"
	}
	tests := []struct {
		name   string
		answer cliAnswer // nil: no server at the address
		reset  bool      // the server resets the connection when it closes it
		flags  []string
		msg    func(addr string) string // the whole message
		errIs  error
	}{
		{"connection refused", nil, false, nil, func(addr string) string {
			return "cannot connect to " + addr + ": connection refused — is 'poolside serve' running?"
		}, syscall.ECONNREFUSED},
		{"no reply", func(wire.Request) ([]byte, bool) { return nil, false }, false, []string{"--timeout", "100ms"},
			func(addr string) string {
				return "the server at " + addr + " did not reply within 100ms (is it a Building Services server, such as poolside serve?)" + inDoubt(addr)
			},
			os.ErrDeadlineExceeded},
		{"truncated reply", func(wire.Request) ([]byte, bool) { return full[:10], true }, false, nil,
			func(addr string) string {
				return fmt.Sprintf("the server at %s closed the connection in the middle of a reply (got 10 of %d bytes)", addr, len(full)) + inDoubt(addr)
			}, client.ErrTruncated},
		{"closed without a reply", func(wire.Request) ([]byte, bool) { return nil, true }, false, nil,
			func(addr string) string {
				return "the server at " + addr + " closed the connection without replying" + inDoubt(addr)
			}, io.EOF},
		{"reset", func(wire.Request) ([]byte, bool) { return nil, true }, true, nil,
			func(addr string) string {
				return "the server at " + addr + " reset the connection before replying" + inDoubt(addr)
			}, syscall.ECONNRESET},
		{"mismatched reply", func(wire.Request) ([]byte, bool) {
			return replyFrame(wire.Reply{Action: wire.ActionBook, Room: "313", Date: wire.DateOf(2026, 12, 1)}), false
		}, false, nil, func(addr string) string {
			return "the server at " + addr + ` sent a bad reply (reply does not match the request: sent BOOK room "312" on 2026-12-01, the reply echoes room "313" on 2026-12-01)` + inDoubt(addr)
		}, client.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			if tt.answer == nil {
				addr = closedAddr(t)
			} else {
				addr = startCLIServerReset(t, tt.answer, tt.reset).addr()
			}
			start := time.Now()
			stdout, _, err := runCLI(t, append([]string{"book", "--addr", addr, "312", "2026-12-01"}, tt.flags...)...)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Equal(t, exitNetwork, exitCode(err), "error: %v", err)
			assert.EqualError(t, err, tt.msg(addr))
			require.ErrorIs(t, err, tt.errIs)
			assert.Empty(t, stdout)
		})
	}
}

// TestClientCommandsNetworkFailuresQuery: a query changes nothing, so its
// failures say nothing about a request in doubt; and with the default
// address the check a BOOK failure suggests needs no --addr.
func TestClientCommandsNetworkFailuresQuery(t *testing.T) {
	s := startCLIServerReset(t, func(wire.Request) ([]byte, bool) { return nil, true }, true)
	_, _, err := runCLI(t, "bookings", "--addr", s.addr(), "--room", "312")
	assert.Equal(t, exitNetwork, exitCode(err), "error: %v", err)
	assert.EqualError(t, err, "the server at "+s.addr()+" reset the connection before replying")

	f := clientFlags{addr: defaultClientAddr, timeout: time.Second}
	err = f.fail(fmt.Errorf("client: reading the reply: %w", io.EOF), f.checkCommand(wire.DateOf(2028, 12, 1).Time()))
	assert.EqualError(t, err, "the server at 127.0.0.1:9407 closed the connection without replying: "+
		"the request may or may not have been carried out (check with 'poolside bookings --date 2028-12-01')")
}

// TestClientCommandsEmptyRefusal: an ERROR reply with an empty or a null
// message still says what happened.
func TestClientCommandsEmptyRefusal(t *testing.T) {
	errorBlock, err := wire.AppendFrame(nil, wire.AppendNullString(wire.AppendString(nil, wire.ActionError)))
	require.NoError(t, err)
	for name, frame := range map[string][]byte{
		"empty": replyFrame(wire.ErrorReply("")),
		"blank": replyFrame(wire.ErrorReply("  ")),
		"null":  errorBlock,
	} {
		t.Run(name, func(t *testing.T) {
			s := startCLIServer(t, func(wire.Request) ([]byte, bool) { return frame, false })
			stdout, _, err := runCLI(t, "book", "--addr", s.addr(), "312", "2026-12-01")
			assert.Equal(t, exitRefused, exitCode(err), "error: %v", err)
			assert.EqualError(t, err, "the server refused the request without saying why")
			var se *client.ServerError
			require.ErrorAs(t, err, &se)
			assert.Empty(t, stdout)
		})
	}
}

// TestClientCommandsJSONFailure: with --json, a failure prints one JSON
// object on stdout (the stderr message stays), and success shapes do not
// change (TestClientCommandsJSON).
func TestClientCommandsJSONFailure(t *testing.T) {
	refuse := startCLIServer(t, func(wire.Request) ([]byte, bool) { return replyFrame(wire.ErrorReply(wire.MsgDuplicate)), false })
	busy := startCLIServer(t, func(wire.Request) ([]byte, bool) { return replyFrame(wire.ErrorReply(wire.MsgBusy)), false })
	hangUp := startCLIServer(t, func(wire.Request) ([]byte, bool) { return nil, true })
	nobody := closedAddr(t)
	tests := []struct {
		args []string
		want map[string]any // without "error", which is the error's text
	}{
		{[]string{"book", "--addr", refuse.addr(), "312", "2026-12-01"},
			map[string]any{"action": "BOOK", "room": "312", "date": "2026-12-01", "ok": false, "exit": 1.0}},
		{[]string{"unbook", "--addr", hangUp.addr(), "312", "2026-12-01"},
			map[string]any{"action": "UNBOOK", "room": "312", "date": "2026-12-01", "ok": false, "exit": 3.0}},
		{[]string{"book", "--addr", nobody, "101", "2027-01-15"},
			map[string]any{"action": "BOOK", "room": "101", "date": "2027-01-15", "ok": false, "exit": 3.0}},
		{[]string{"book", "--addr", refuse.addr(), "31", "2026-12-01"},
			map[string]any{"action": "BOOK", "room": "31", "date": "2026-12-01", "ok": false, "exit": 2.0}},
		{[]string{"unbook", "--addr", refuse.addr(), "312"},
			map[string]any{"action": "UNBOOK", "room": "312", "ok": false, "exit": 2.0}},
		{[]string{"bookings", "--addr", busy.addr(), "--date", "2026-12-01"},
			map[string]any{"date": "2026-12-01", "ok": false, "exit": 1.0}},
		{[]string{"bookings", "--addr", hangUp.addr(), "--room", "312"},
			map[string]any{"room": "312", "ok": false, "exit": 3.0}},
		{[]string{"bookings", "--addr", busy.addr()},
			map[string]any{"ok": false, "exit": 2.0}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, err := runCLI(t, append(tt.args, "--json")...)
			require.Error(t, err)
			assert.Empty(t, stderr, "main prints the message on stderr")
			assert.Equal(t, 1, strings.Count(stdout, "\n"), "one line: %q", stdout)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout: %q", stdout)
			want := maps.Clone(tt.want)
			want["error"] = err.Error()
			assert.Equal(t, want, got)
			assert.Equal(t, float64(exitCode(err)), got["exit"])
		})
	}
	// Without --json a failure prints nothing on stdout.
	stdout, _, err := runCLI(t, "book", "--addr", refuse.addr(), "312", "2026-12-01")
	assert.Equal(t, exitRefused, exitCode(err))
	assert.Empty(t, stdout)
}

// TestClientDatesRoundTrip: every date the client commands print, the
// client commands read back, years past 9999 (and before 1) included, so a
// booking listed by 'bookings' can always be cancelled with 'unbook'.
func TestClientDatesRoundTrip(t *testing.T) {
	const last = wire.Date(^uint32(0))
	dates := []wire.Date{1, 2, 1721059, 1721060, wire.DateOf(2030, 12, 1), 5373484, 5373485, last - 1, last}
	for d := wire.Date(3); d < last-1e6; d += 999_983 { // about 4,300 dates across the whole range
		dates = append(dates, d)
	}
	for _, d := range dates {
		s := formatDate(d.Time())
		got, err := parseDateArg(s)
		require.NoError(t, err, "date %d printed as %q", d, s)
		require.Equal(t, d, wire.FromTime(got), "date %d printed as %q", d, s)
	}
	assert.Equal(t, "11754508-12-13", formatDate(last.Time()))
	assert.Equal(t, "-4713-11-25", formatDate(wire.Date(1).Time()))

	// Through the CLI: list a room booked on the last date QDate can
	// carry, then unbook what was printed.
	s := startCLIServer(t, func(req wire.Request) ([]byte, bool) {
		if req.Action == wire.ActionBookingsForRoom {
			return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{5373485, last}}), false
		}
		return goodServer(req)
	})
	stdout, _, err := runCLI(t, "bookings", "--addr", s.addr(), "--room", "101")
	require.NoError(t, err)
	require.Equal(t, "Room 101 is booked on:\n10000-01-01\n11754508-12-13\n", stdout)
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		out, _, err := runCLI(t, "unbook", "--addr", s.addr(), "101", line)
		require.NoError(t, err, "unbook %s", line)
		assert.Equal(t, "Unbooked room 101 for "+line+"\n", out)
	}
	_, reqs := s.seen()
	require.Len(t, reqs, 3)
	assert.Equal(t, wire.Request{Action: wire.ActionUnbook, Room: "101", Date: 5373485}, reqs[1])
	assert.Equal(t, wire.Request{Action: wire.ActionUnbook, Room: "101", Date: last}, reqs[2])
}

// TestParseDateArg: what parseDateArg refuses, as a usage error.
func TestParseDateArg(t *testing.T) {
	for _, s := range []string{
		"", "2026-13-01", "2026-02-30", "2026-12-1", "1/12/2026", "tomorrow", "+2026-12-01", " 2026-12-01",
		"02026-12-01",                               // a year past 9999 has no leading zero, and one before has 4 digits
		"-0000-01-01", "-000-01-01", "-99999-01-01", // only the printer's negative years
		"10000-02-30", "11754508-12-14", "11754509-01-01", "99999999999999999999-01-01", // past QDate's last day
		"-4713-11-24", "-4714-01-01", // before Julian Day 1
	} {
		_, err := parseDateArg(s)
		if assert.Error(t, err, "%q", s) {
			assert.Equal(t, exitUsage, exitCode(err))
			assert.Contains(t, err.Error(), fmt.Sprintf("invalid date %q", s))
		}
	}
}

// FuzzParseDateArg: a date parseDateArg accepts is one QDate can carry,
// and it prints back as it was written.
func FuzzParseDateArg(f *testing.F) {
	for _, s := range []string{"2028-12-01", "0000-01-01", "-4713-11-25", "11754508-12-13", "10000-01-01", "-0001-12-31", "2026-02-29"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDateArg(s)
		if err != nil {
			return
		}
		if wire.FromTime(d).IsNull() {
			t.Fatalf("%q parsed to %v, which QDate cannot carry", s, d)
		}
		if got := formatDate(d); got != s {
			t.Fatalf("%q parsed to %v, which prints as %q", s, d, got)
		}
	})
}

func TestClientCommandsHelp(t *testing.T) {
	for _, name := range []string{"book", "unbook", "bookings"} {
		t.Run(name, func(t *testing.T) {
			stdout, _, err := runCLI(t, name, "--help")
			require.NoError(t, err)
			assert.Contains(t, stdout, "poolside "+name+" ")
			assert.Contains(t, stdout, "Exit status:")
			assert.Contains(t, stdout, "--addr")
			assert.Contains(t, stdout, "127.0.0.1:9407")
			assert.Contains(t, stdout, "--json")
			assert.Contains(t, stdout, "--timeout")
			assert.Contains(t, stdout, "4  interrupted (SIGINT, SIGTERM or SIGHUP) before the reply")
		})
	}
}

// TestClientCommandsAgainstServe runs the client commands against the
// real server binary ('poolside serve --store memory'): in-process through
// run, and as processes to check the exit statuses and stderr messages the
// shell sees.
func TestClientCommandsAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	p := startServe(t, "--store", "memory")

	date := time.Now().AddDate(1, 0, 0).Format(time.DateOnly)
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"book", "312", date}, exitOK, "Booked room 312 for " + date + "\n"},
		{[]string{"book", "101", date}, exitOK, "Booked room 101 for " + date + "\n"},
		{[]string{"book", "312", date}, exitRefused, ""},
		{[]string{"bookings", "--date", date}, exitOK, "Rooms booked on " + date + ":\n101\n312\n"},
		{[]string{"bookings", "--room", "312"}, exitOK, "Room 312 is booked on:\n" + date + "\n"},
		{[]string{"unbook", "312", date}, exitOK, "Unbooked room 312 for " + date + "\n"},
		{[]string{"unbook", "312", date}, exitRefused, ""},
		{[]string{"bookings", "--room", "312"}, exitOK, "Room 312 is not booked\n"},
		{[]string{"bookings", "--date", "2001-01-01"}, exitOK, "No rooms are booked on 2001-01-01\n"},
	}
	for _, st := range steps {
		stdout, _, err := runCLI(t, append(st.args, "--addr", p.addr)...)
		assert.Equal(t, st.code, exitCode(err), "%v: %v", st.args, err)
		assert.Equal(t, st.out, stdout, "%v", st.args)
	}

	// The same contract as the shell sees it.
	nobody := closedAddr(t)
	procs := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"book", "--addr", p.addr, "205", date}, exitOK, "Booked room 205 for " + date + "\n", ""},
		{[]string{"book", "--addr", p.addr, "205", date}, exitRefused, "", "poolside: Cannot accept duplicate booking\n"},
		{[]string{"book", "--addr", p.addr, "205", "2026-12-32"}, exitUsage, "", `poolside: invalid date "2026-12-32": December of the year 2026 has 31 days` + "\n"},
		{[]string{"book", "--addr", nobody, "205", date}, exitNetwork, "",
			"poolside: cannot connect to " + nobody + ": connection refused — is 'poolside serve' running?\n"},
		{[]string{"bookings", "--json", "--addr", p.addr, "--date", date}, exitOK, `{"date":"` + date + `","rooms":["101","205"]}` + "\n", ""},
		{[]string{"book", "--json", "--addr", p.addr, "205", date}, exitRefused,
			`{"action":"BOOK","room":"205","date":"` + date + `","ok":false,"error":"Cannot accept duplicate booking","exit":1}` + "\n",
			"poolside: Cannot accept duplicate booking\n"},
	}
	for _, pr := range procs {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(poolsideBinary(t), pr.args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, pr.code, code, "%v", pr.args)
		assert.Equal(t, pr.stdout, stdout.String(), "%v", pr.args)
		assert.Equal(t, pr.stderr, stderr.String(), "%v", pr.args)
	}

	require.NoError(t, p.stop(t, syscall.SIGTERM))
}

// TestClientCommandsInterruptedAfterSending: a book interrupted while it
// waits for the reply says that the booking is in doubt, as a network
// failure at that point does.
func TestClientCommandsInterruptedAfterSending(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startCLIServer(t, func(wire.Request) ([]byte, bool) { cancel(); return nil, false }) // as SIGINT would, once the request is there
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"book", "--addr", s.addr(), "312", "2028-12-01"}, &stdout, &stderr)
	assert.Equal(t, exitInternal, exitCode(err), "error: %v", err)
	assert.EqualError(t, err, "interrupted before the reply: the request may or may not have been carried out (check with 'poolside bookings --date 2028-12-01 --addr "+s.addr()+"')")
	require.ErrorIs(t, err, context.Canceled)
}

func TestClientCommandsInterrupted(t *testing.T) {
	s := startCLIServer(t, func(wire.Request) ([]byte, bool) { return nil, false }) // never answers
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as SIGINT would
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"book", "--addr", s.addr(), "312", "2026-12-01"}, &stdout, &stderr)
	assert.Equal(t, exitInternal, exitCode(err), "error: %v", err)
	assert.EqualError(t, err, "interrupted")
	require.ErrorIs(t, err, context.Canceled)
}

// rawRoomsFrame is a BOOKINGSONDATE reply for date whose rooms field is
// the string rooms as given, separators and controls included.
func rawRoomsFrame(rooms string, date wire.Date) []byte {
	b := wire.AppendString(wire.AppendString(nil, wire.ActionBookingsOnDate), rooms)
	f, err := wire.AppendFrame(nil, wire.AppendDate(b, date))
	if err != nil {
		panic(err)
	}
	return f
}

// assertTerminalSafe fails unless out holds only printable text: no C0
// control but the newlines that end lines, no DEL or C1 control, no
// format character (bidi overrides, zero-width characters), no line or
// paragraph separator.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for i, r := range out {
		if r == '\n' || r == ' ' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Errorf("raw %U at byte %d of %q", r, i, out)
		}
	}
}

// TestClientCommandsEscapeServerText: a server's text (its ERROR message)
// is printed with its controls escaped, on stderr and in --json output
// (which stays valid JSON), and printable text, accents and CJK
// included, is left as it is.
func TestClientCommandsEscapeServerText(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"Salle réservée 日本\u202e321\u202c", `Salle réservée 日本\u202e321\u202c`},
		{"one\nPOOLSIDE: fake line\r", `one\nPOOLSIDE: fake line\r`},
		{"\u009b2J\x7f \u2028 \u200b \U000e0041", `\u009b2J\x7f \u2028 \u200b \U000e0041`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s := startCLIServer(t, func(wire.Request) ([]byte, bool) { return replyFrame(wire.ErrorReply(tt.msg)), false })
			stdout, stderr, err := runCLI(t, "book", "--addr", s.addr(), "312", "2026-12-01")
			assert.Equal(t, exitRefused, exitCode(err), "error: %v", err)
			assert.EqualError(t, err, tt.want, "main prints it on stderr")
			assertTerminalSafe(t, err.Error())
			assert.Empty(t, stdout)
			assert.Empty(t, stderr)
			var se *client.ServerError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.msg, se.Message, "the error still carries the server's text")

			stdout, _, err = runCLI(t, "bookings", "--json", "--addr", s.addr(), "--date", "2026-12-01")
			assert.Equal(t, exitRefused, exitCode(err), "error: %v", err)
			assertTerminalSafe(t, stdout)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout: %q", stdout)
			assert.Equal(t, tt.want, got["error"])
		})
	}
}

// TestClientCommandsJSONIsTerminalSafe: --json output escapes what
// encoding/json leaves raw (DEL, C1 controls, format characters), here in
// a room given on the command line, and still decodes to the same text.
func TestClientCommandsJSONIsTerminalSafe(t *testing.T) {
	s := startCLIServer(t, goodServer)
	for _, room := range []string{"\u202e213", "3\u009b12", "31\x7f", "3\u200b12", "3\U000e004112"} {
		stdout, _, err := runCLI(t, "book", "--json", "--addr", s.addr(), room, "2026-12-01")
		assert.Equal(t, exitUsage, exitCode(err), "error: %v", err)
		assertTerminalSafe(t, stdout)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout: %q", stdout)
		assert.Equal(t, room, got["room"])
	}
}

// TestClientCommandsMalformedReply: a reply that carries a value no server
// can mean (a room that is not a room, a null date, the same entry twice)
// is reported as a bad reply, exit status 3, and none of it is printed as
// an answer.
func TestClientCommandsMalformedReply(t *testing.T) {
	dec1 := wire.DateOf(2026, 12, 1)
	const badRoom = " is not a room of the building (three digits: a floor 0-9, then a room 01-34))"
	tests := []struct {
		name   string
		args   []string
		answer cliAnswer
		msg    string // the message after "the server at ADDR sent a bad reply ("
	}{
		{"a room with a newline", []string{"bookings", "--date", "2026-12-01"},
			func(req wire.Request) ([]byte, bool) { return rawRoomsFrame("101, 5\n6", req.Date), false },
			`malformed reply to BOOKINGSONDATE: room "5\n6"` + badRoom},
		{"a room with escape sequences", []string{"bookings", "--date", "2026-12-01"},
			func(req wire.Request) ([]byte, bool) {
				return rawRoomsFrame("\x1b]0;pwned\x07\x1b[2J", req.Date), false
			},
			`malformed reply to BOOKINGSONDATE: room "\x1b]0;pwned\a\x1b[2J"` + badRoom},
		{"a room listed twice", []string{"bookings", "--date", "2026-12-01"},
			func(req wire.Request) ([]byte, bool) { return rawRoomsFrame("101, 312, 312", req.Date), false },
			`malformed reply to BOOKINGSONDATE: room 312 is listed twice)`},
		{"a null date", []string{"bookings", "--room", "312"},
			func(req wire.Request) ([]byte, bool) {
				return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{0}}), false
			},
			`malformed reply to BOOKINGSFORROOM: date 1 of 1 is the null date (Julian day 0), which no booking can have)`},
		{"a date listed twice", []string{"bookings", "--room", "312"},
			func(req wire.Request) ([]byte, bool) {
				return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{dec1, dec1}}), false
			},
			`malformed reply to BOOKINGSFORROOM: 2026-12-01 is listed twice)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startCLIServer(t, tt.answer)
			want := "the server at " + s.addr() + " sent a bad reply (" + tt.msg
			stdout, stderr, err := runCLI(t, append(tt.args, "--addr", s.addr())...)
			assert.Equal(t, exitNetwork, exitCode(err), "error: %v", err)
			assert.EqualError(t, err, want)
			require.ErrorIs(t, err, client.ErrMalformedReply)
			assertTerminalSafe(t, err.Error())
			assert.Empty(t, stdout)
			assert.Empty(t, stderr)

			stdout, _, err = runCLI(t, append(tt.args, "--json", "--addr", s.addr())...)
			assert.Equal(t, exitNetwork, exitCode(err), "error: %v", err)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout: %q", stdout)
			assert.Equal(t, false, got["ok"])
			assert.Equal(t, want, got["error"])
			assert.Equal(t, 3.0, got["exit"])
		})
	}
}

// TestClientCommandsFarDates: dates a QDate carries but many clients
// cannot hold (years past 9999, or before 1) are no malformed reply: a
// server may hold such bookings (poolside's did before its horizon), and
// listing them is how to find what to cancel. They are listed, and a note
// on stderr says what they are and how to cancel them.
func TestClientCommandsFarDates(t *testing.T) {
	last := wire.Date(^uint32(0))
	dates := []wire.Date{wire.DateOf(2026, 12, 1), wire.DateOf(10000, 1, 1), last}
	s := startCLIServer(t, func(req wire.Request) ([]byte, bool) {
		if req.Room == "101" {
			return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{1, wire.DateOf(1, 1, 1)}}), false
		}
		return replyFrame(wire.Reply{Action: req.Action, Room: req.Room, Dates: dates}), false
	})
	note := "poolside: note: room 312 is booked on 2 dates outside the years 1 to 9999 (10000-01-01, 11754508-12-13), " +
		"which clients written in Python, the book's among them, cannot read; if they are not real bookings, " +
		"cancel each with 'poolside unbook 312 DATE --addr " + s.addr() + "'\n"

	stdout, stderr, err := runCLI(t, "bookings", "--addr", s.addr(), "--room", "312")
	require.NoError(t, err)
	assert.Equal(t, "Room 312 is booked on:\n2026-12-01\n10000-01-01\n11754508-12-13\n", stdout)
	assert.Equal(t, note, stderr)

	stdout, stderr, err = runCLI(t, "bookings", "--json", "--addr", s.addr(), "--room", "312")
	require.NoError(t, err)
	assert.Equal(t, `{"room":"312","dates":["2026-12-01","10000-01-01","11754508-12-13"]}`+"\n", stdout)
	assert.Equal(t, note, stderr)

	stdout, stderr, err = runCLI(t, "bookings", "--addr", s.addr(), "--room", "101")
	require.NoError(t, err)
	assert.Equal(t, "Room 101 is booked on:\n-4713-11-25\n0001-01-01\n", stdout)
	assert.Equal(t, "poolside: note: room 101 is booked on 1 date outside the years 1 to 9999 (-4713-11-25), "+
		"which clients written in Python, the book's among them, cannot read; if it is not a real booking, "+
		"cancel it with 'poolside unbook 101 -4713-11-25 --addr "+s.addr()+"'\n", stderr)

	// Many of them: the note names a few; stdout lists them all.
	var many []time.Time
	for i := range 5 {
		many = append(many, (last - wire.Date(i)).Time())
	}
	var buf bytes.Buffer
	(&clientFlags{addr: defaultClientAddr}).noteFarDates(&buf, "312", many)
	assert.Equal(t, "poolside: note: room 312 is booked on 5 dates outside the years 1 to 9999 "+
		"(11754508-12-13, 11754508-12-12, 11754508-12-11 and 2 more), "+
		"which clients written in Python, the book's among them, cannot read; if they are not real bookings, "+
		"cancel each with 'poolside unbook 312 DATE'\n", buf.String())
}

// TestParseRoomArgIsTheRoomRule: the CLI refuses exactly the rooms
// wire.ValidRoom, the server's rule, refuses.
func TestParseRoomArgIsTheRoomRule(t *testing.T) {
	rooms := []string{"", "３１２", "३१२", "312\x00", "12", "0312"}
	for i := range 1000 {
		rooms = append(rooms, fmt.Sprintf("%03d", i))
	}
	for _, room := range rooms {
		_, err := parseRoomArg(room)
		require.Equal(t, wire.ValidRoom(room), err == nil, "%q", room)
	}
}
