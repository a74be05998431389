package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    int
	requests []wire.Request
	open     map[net.Conn]struct{}
}

func startCLIServer(t *testing.T, answer cliAnswer) *cliServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &cliServer{ln: ln, answer: answer, open: make(map[net.Conn]struct{})}
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
		{[]string{"book", "312", "2026-13-01"}, `invalid date "2026-13-01": want YYYY-MM-DD`},
		{[]string{"book", "312", "2026-02-30"}, `invalid date "2026-02-30"`},
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

func TestClientCommandsNetworkFailures(t *testing.T) {
	full := replyFrame(wire.Reply{Action: wire.ActionBook, Room: "312", Date: wire.DateOf(2026, 12, 1)})
	closedAddr := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return addr
	}
	tests := []struct {
		name   string
		answer cliAnswer // nil: no server at the address
		flags  []string
		msg    func(addr string) string
	}{
		{"connection refused", nil, nil, func(addr string) string {
			return "cannot connect to " + addr + ": connection refused — is 'poolside serve' running?"
		}},
		{"no reply", func(wire.Request) ([]byte, bool) { return nil, false }, []string{"--timeout", "100ms"},
			func(string) string { return "no reply within 100ms" }},
		{"truncated reply", func(wire.Request) ([]byte, bool) { return full[:10], true }, nil,
			func(string) string {
				return fmt.Sprintf("server closed the connection in the middle of a reply (got 10 of %d bytes)", len(full))
			}},
		{"closed without a reply", func(wire.Request) ([]byte, bool) { return nil, true }, nil,
			func(string) string { return "server closed the connection without replying" }},
		{"mismatched reply", func(wire.Request) ([]byte, bool) {
			return replyFrame(wire.Reply{Action: wire.ActionBook, Room: "313", Date: wire.DateOf(2026, 12, 1)}), false
		}, nil, func(addr string) string { return "bad reply from " + addr }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			if tt.answer == nil {
				addr = closedAddr(t)
			} else {
				addr = startCLIServer(t, tt.answer).addr()
			}
			start := time.Now()
			stdout, _, err := runCLI(t, append([]string{"book", "--addr", addr, "312", "2026-12-01"}, tt.flags...)...)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Equal(t, exitNetwork, exitCode(err), "error: %v", err)
			assert.Contains(t, err.Error(), tt.msg(addr))
			assert.Empty(t, stdout)
		})
	}
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
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())
	procs := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"book", "--addr", p.addr, "205", date}, exitOK, "Booked room 205 for " + date + "\n", ""},
		{[]string{"book", "--addr", p.addr, "205", date}, exitRefused, "", "poolside: Cannot accept duplicate booking\n"},
		{[]string{"book", "--addr", p.addr, "205", "2026-12-32"}, exitUsage, "", `poolside: invalid date "2026-12-32": want YYYY-MM-DD, for example 2030-12-01` + "\n"},
		{[]string{"book", "--addr", closedAddr, "205", date}, exitNetwork, "",
			"poolside: cannot connect to " + closedAddr + ": connection refused — is 'poolside serve' running?\n"},
		{[]string{"bookings", "--json", "--addr", p.addr, "--date", date}, exitOK, `{"date":"` + date + `","rooms":["101","205"]}` + "\n", ""},
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
