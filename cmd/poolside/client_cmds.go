package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

func init() {
	subcommands = append(subcommands, newBookCmd, newUnbookCmd, newBookingsCmd)
}

// Defaults of the client subcommands' flags.
const (
	defaultClientAddr    = "127.0.0.1:9407"
	defaultClientTimeout = 5 * time.Second
)

// clientExitHelp ends the long help of every client subcommand.
const clientExitHelp = `
It sends one request on a fresh connection and closes it after the reply,
as the book's own client does. Room and date are checked before anything
is sent.

Exit status:
  0  done
  1  the server refused the request (its message is printed on stderr)
  2  bad arguments or flags; nothing was sent
  3  no usable reply: cannot connect, no reply within --timeout, the
     connection closed or reset, or the reply was cut short, malformed or
     impossible (a room that is not a room, a null date, a room or a date
     listed twice); once connected, a book or unbook may or may not have
     been carried out: the message says how to check
  4  interrupted (SIGINT, SIGTERM or SIGHUP) before the reply

With --json a failure prints one JSON object on stdout as well, with
"ok":false, the message as "error" and the exit status as "exit", e.g.
{"action":"BOOK","room":"312","date":"2028-12-01","ok":false,
"error":"Cannot accept duplicate booking","exit":1} (on one line). Flags
that cannot be read are reported on stderr only.

Text from the server, such as its message, is printed with control and
invisible characters escaped (\x1b, \n, \u202e), in --json output too.`

// clientFlags are the flags every client subcommand shares.
type clientFlags struct {
	addr    string
	timeout time.Duration
	json    bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", defaultClientAddr, "address of the server, host:port")
	fl.DurationVar(&f.timeout, "timeout", defaultClientTimeout, "give up when connecting, sending and replying take longer than this (0 means no limit)")
	fl.BoolVar(&f.json, "json", false, "print the result as one JSON object")
}

// client checks the shared flags and returns a client that dials one
// connection per request, bounded by --timeout.
func (f *clientFlags) client(ctx context.Context) (*client.Client, error) {
	if f.timeout < 0 {
		return nil, usageError(fmt.Errorf("--timeout must not be negative, got %v", f.timeout))
	}
	if err := checkAddr("--addr", f.addr, defaultClientAddr, dialling); err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, f.addr, client.Config{ConnPerRequest: true, Timeout: f.timeout})
	if err != nil {
		return nil, usageError(err)
	}
	return c, nil
}

// fail turns an error from the client library into the exit status and
// one-line message of the CLI's contract. check, when not empty, is the
// command that shows whether the request was carried out: BOOK and UNBOOK
// change bookings, so after a failure that may have come after the server
// read the request the message says the change is in doubt and names check.
func (f *clientFlags) fail(err error, check string) error {
	var (
		se *client.ServerError
		te *wire.TruncatedError
		pe *wire.ProtocolError
	)
	code, msg, doubt := exitNetwork, "", true
	switch {
	case errors.As(err, &se):
		code, msg, doubt = exitRefused, se.Message, false
		if strings.TrimSpace(msg) == "" {
			msg = "the server refused the request without saying why"
		}
	case errors.Is(err, context.Canceled) && errors.Is(err, client.ErrNotSent):
		code, msg, doubt = exitInternal, "interrupted", false
	case errors.Is(err, context.Canceled):
		code, msg = exitInternal, "interrupted before the reply"
	case errors.Is(err, client.ErrConnect) && errors.Is(err, os.ErrDeadlineExceeded):
		msg, doubt = fmt.Sprintf("cannot connect to %s within %v — is 'poolside serve' running?", f.addr, f.timeout), false
	case errors.Is(err, client.ErrConnect):
		msg, doubt = fmt.Sprintf("cannot connect to %s: %s — is 'poolside serve' running?", f.addr, netReason(err)), false
	case errors.Is(err, os.ErrDeadlineExceeded):
		msg = fmt.Sprintf("the server at %s did not reply within %v (is it a Building Services server, such as poolside serve?)", f.addr, f.timeout)
	case errors.As(err, &te):
		msg = fmt.Sprintf("the server at %s closed the connection in the middle of a reply (got %d of %d bytes)", f.addr, te.Got, te.Want)
	case errors.Is(err, io.EOF):
		msg = fmt.Sprintf("the server at %s closed the connection without replying", f.addr)
	case errors.Is(err, syscall.ECONNRESET):
		msg = fmt.Sprintf("the server at %s reset the connection before replying", f.addr)
	case errors.As(err, &pe), errors.Is(err, client.ErrMismatch), errors.Is(err, client.ErrMalformedReply):
		msg = fmt.Sprintf("the server at %s sent a bad reply (%s)", f.addr, strings.TrimPrefix(err.Error(), "client: "))
	default:
		msg = fmt.Sprintf("the connection to %s failed: %s", f.addr, netReason(err))
	}
	if doubt && check != "" && !errors.Is(err, client.ErrNotSent) {
		msg += fmt.Sprintf(": the request may or may not have been carried out (check with '%s')", check)
	}
	// The server's message, and anything else in msg, reaches a terminal:
	// its escape sequences must not act on it.
	msg = client.Printable(msg)
	return &exitError{code: code, err: &messageError{msg: msg, err: err}}
}

// checkCommand is the command that lists the bookings on date at the
// server of f: what to run when a BOOK or UNBOOK of date is in doubt.
func (f *clientFlags) checkCommand(date time.Time) string {
	cmd := "poolside bookings --date " + formatDate(date)
	if f.addr != defaultClientAddr {
		cmd += " --addr " + f.addr
	}
	return cmd
}

// jsonFailure is what --json prints for a failure. Room and date are as
// given (empty ones left out); Action is set for book and unbook only,
// whose success object has it too.
type jsonFailure struct {
	Action string `json:"action,omitempty"`
	Room   string `json:"room,omitempty"`
	Date   string `json:"date,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Exit   int    `json:"exit"`
}

// jsonOnFailure wraps run, the Args or RunE of a client subcommand, so that
// with --json its failure also prints a jsonFailure on stdout, filled in by
// describe: bad arguments (exit status 2) and failed requests, not a
// failure to write the output itself. The error is returned unchanged, so
// main still prints the message on stderr.
func (f *clientFlags) jsonOnFailure(stdout io.Writer, describe func(cmd *cobra.Command, args []string) jsonFailure,
	run func(cmd *cobra.Command, args []string) error) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		var ce *messageError
		if err == nil || !f.json || (exitCode(err) != exitUsage && !errors.As(err, &ce)) {
			return err
		}
		r := describe(cmd, args)
		r.Error, r.Exit = err.Error(), exitCode(err)
		_ = writeJSON(stdout, r) // the error, on stderr, says what failed
		return err
	}
}

// parseRoomArg checks a room against the protocol's rule, the one the
// client library checks replies with (and the server, requests).
func parseRoomArg(s string) (string, error) {
	if !wire.ValidRoom(s) {
		return "", usageError(fmt.Errorf("invalid room %q: want three digits, a floor 0-9 then a room 01-34, for example 312", s))
	}
	return s, nil
}

// dateArgPattern is a date as formatDate prints it: a year of four digits,
// or more without a leading zero, and a minus sign before the Christian era
// (year 0 is 1 BC), then a two-digit month and day.
var dateArgPattern = regexp.MustCompile(`^(-?(?:[0-9]{4}|[1-9][0-9]{4,}))-([0-9]{2})-([0-9]{2})$`)

// firstDate and lastDate are the first and last days a QDate on the wire
// can carry: Julian Days 1 (-4713-11-25) and 2^32-1 (11754508-12-13).
var firstDate, lastDate = wire.Date(1).Time(), wire.Date(^uint32(0)).Time()

// parseDateArg parses a date as formatDate prints it, YYYY-MM-DD with more
// digits for years past 9999 (a server may hold bookings for those, and
// they must be possible to cancel), as midnight UTC. It refuses what the
// protocol cannot carry.
func parseDateArg(s string) (time.Time, error) {
	invalid := usageError(fmt.Errorf("invalid date %q: want YYYY-MM-DD, for example 2028-12-01", s))
	m := dateArgPattern.FindStringSubmatch(s)
	if m == nil || m[1] == "-0000" {
		return time.Time{}, invalid
	}
	outOfRange := usageError(fmt.Errorf("invalid date %q: the protocol carries dates from %s to %s",
		s, formatDate(firstDate), formatDate(lastDate)))
	year, err := strconv.Atoi(m[1])
	if err != nil || year < firstDate.Year() || year > lastDate.Year() {
		return time.Time{}, outOfRange
	}
	month, _ := strconv.Atoi(m[2])
	day, _ := strconv.Atoi(m[3])
	if err := checkDay(year, month, day); err != nil {
		return time.Time{}, usageError(fmt.Errorf("invalid date %q: %w", s, err))
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Before(firstDate) || t.After(lastDate) {
		return time.Time{}, outOfRange
	}
	return t, nil
}

// checkDay says what is wrong with a month or a day that does not exist.
func checkDay(year, month, day int) error {
	if month < 1 || month > 12 {
		return fmt.Errorf("there is no month %02d (months run from 01 to 12)", month)
	}
	if day < 1 {
		return errors.New("days start at 01")
	}
	// Day 0 of the next month is the last day of this one.
	if last := time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day(); day > last {
		return fmt.Errorf("%s of the year %d has %d days", time.Month(month), year, last)
	}
	return nil
}

// formatDate prints t's day as YYYY-MM-DD (years past 9999 take more
// digits, years before 1 a minus sign), as parseDateArg reads it.
func formatDate(t time.Time) string { return t.Format(time.DateOnly) }

// writeJSON writes v as one line of JSON that is safe on a terminal.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", terminalSafeJSON(b))
	return err
}

// terminalSafeJSON escapes, as \uXXXX, the characters json.Marshal leaves
// raw that a terminal may act on or that disguise text: DEL, C1 controls,
// format characters such as U+202E, private-use and unassigned code points
// (json.Marshal already escapes C0 controls, U+2028 and U+2029). Outside
// its strings json.Marshal writes only ASCII punctuation, letters and
// digits, so every such character is inside a string, where the escape
// decodes to the same text: the JSON means what it meant.
func terminalSafeJSON(b []byte) []byte {
	s := string(b)
	if !strings.ContainsFunc(s, jsonNeedsEscape) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for _, r := range s {
		if !jsonNeedsEscape(r) {
			out = utf8.AppendRune(out, r)
			continue
		}
		if r > 0xffff {
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	return out
}

// jsonNeedsEscape reports whether terminalSafeJSON escapes r: the rule of
// client.Printable, anything but letters, marks, numbers, punctuation,
// symbols and spaces.
func jsonNeedsEscape(r rune) bool { return !unicode.IsGraphic(r) }

func newBookCmd(stdout, _ io.Writer) *cobra.Command { return newChangeCmd(stdout, true) }

func newUnbookCmd(stdout, _ io.Writer) *cobra.Command { return newChangeCmd(stdout, false) }

// newChangeCmd builds "book" (book set) or "unbook".
func newChangeCmd(stdout io.Writer, book bool) *cobra.Command {
	var f clientFlags
	name, action, done, short, long, example := "unbook", wire.ActionUnbook, "Unbooked", "Cancel the booking of a room for a date",
		`Unbook asks the server to cancel the booking of ROOM on DATE, and prints
"Unbooked room ROOM for DATE" when it did. Cancelling a booking that does not
exist is refused ("Cannot unbook nonexistent booking").

ROOM is three digits: a floor 0-9, then a room 01-34 (312 is room 12 on
floor 3). DATE is YYYY-MM-DD (a year past 9999 has more digits).
`,
		`  poolside unbook 312 2028-12-01
  poolside unbook --addr 10.0.0.5:9407 --json 101 2027-01-15`
	if book {
		name, action, done, short, long, example = "book", wire.ActionBook, "Booked", "Book a room for a date",
			`Book asks the server to book ROOM on DATE, and prints "Booked room ROOM for
DATE" when it did. The server refuses a duplicate booking, a date that already
has its 5 bookings, and (poolside's server) a date in the past.

ROOM is three digits: a floor 0-9, then a room 01-34 (312 is room 12 on
floor 3). DATE is YYYY-MM-DD (a year past 9999 has more digits).
`,
			`  poolside book 312 2028-12-01
  poolside book --addr 10.0.0.5:9407 --timeout 2s 101 2027-01-15
  poolside book --json 312 2028-12-01   # {"action":"BOOK","room":"312","date":"2028-12-01","ok":true}`
	}
	describe := func(_ *cobra.Command, args []string) jsonFailure {
		r := jsonFailure{Action: action}
		if len(args) > 0 {
			r.Room = args[0]
		}
		if len(args) > 1 {
			r.Date = args[1]
		}
		return r
	}
	cmd := &cobra.Command{
		Use:     name + " ROOM DATE",
		Short:   short,
		Long:    long + clientExitHelp,
		Example: example,
		Args:    f.jsonOnFailure(stdout, describe, usageArgs(cobra.ExactArgs(2))),
		RunE: f.jsonOnFailure(stdout, describe, func(cmd *cobra.Command, args []string) error {
			room, err := parseRoomArg(args[0])
			if err != nil {
				return err
			}
			date, err := parseDateArg(args[1])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := f.client(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if book {
				err = c.Book(ctx, room, date)
			} else {
				err = c.Unbook(ctx, room, date)
			}
			if err != nil {
				return f.fail(err, f.checkCommand(date))
			}
			day := formatDate(date)
			if f.json {
				return writeJSON(stdout, struct {
					Action string `json:"action"`
					Room   string `json:"room"`
					Date   string `json:"date"`
					OK     bool   `json:"ok"`
				}{action, room, day, true})
			}
			_, err = fmt.Fprintf(stdout, "%s room %s for %s\n", done, room, day)
			return err
		}),
	}
	f.register(cmd)
	return cmd
}

func newBookingsCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		f          clientFlags
		room, date string
	)
	describe := func(cmd *cobra.Command, _ []string) jsonFailure {
		var r jsonFailure
		if cmd.Flags().Changed("room") {
			r.Room = room
		}
		if cmd.Flags().Changed("date") {
			r.Date = date
		}
		return r
	}
	cmd := &cobra.Command{
		Use:   "bookings (--date DATE | --room ROOM)",
		Short: "List the rooms booked on a date, or the dates a room is booked",
		Long: `Bookings asks the server which rooms are booked on a date (--date), or on
which dates a room is booked (--room); give exactly one. It prints a header
line, then one room or date per line, sorted, or a line saying there are
none. With --json it prints {"date":...,"rooms":[...]} or
{"room":...,"dates":[...]}.

ROOM is three digits: a floor 0-9, then a room 01-34. DATE is YYYY-MM-DD
(a year past 9999 has more digits).

A room booked on dates outside the years 1 to 9999, which other clients of
the protocol cannot read, gets a note on stderr that says how to cancel
them; they are listed like the others.
` + clientExitHelp,
		Example: `  poolside bookings --date 2028-12-01
  poolside bookings --room 312
  poolside bookings --addr 10.0.0.5:9407 --json --date 2028-12-01`,
		Args: f.jsonOnFailure(stdout, describe, usageArgs(cobra.NoArgs)),
		RunE: f.jsonOnFailure(stdout, describe, func(cmd *cobra.Command, _ []string) error {
			byDate, byRoom := cmd.Flags().Changed("date"), cmd.Flags().Changed("room")
			if byDate == byRoom {
				return usageError(fmt.Errorf("give exactly one of --date DATE or --room ROOM (see '%s --help')", cmd.CommandPath()))
			}
			if byDate {
				d, err := parseDateArg(date)
				if err != nil {
					return err
				}
				return f.bookingsOnDate(cmd.Context(), stdout, d)
			}
			r, err := parseRoomArg(room)
			if err != nil {
				return err
			}
			return f.bookingsForRoom(cmd.Context(), stdout, stderr, r)
		}),
	}
	cmd.Flags().StringVar(&date, "date", "", "list the rooms booked on this date (YYYY-MM-DD)")
	cmd.Flags().StringVar(&room, "room", "", "list the dates this room is booked (for example 312)")
	f.register(cmd)
	return cmd
}

func (f *clientFlags) bookingsOnDate(ctx context.Context, stdout io.Writer, date time.Time) error {
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rooms, err := c.BookingsOnDate(ctx, date)
	if err != nil {
		return f.fail(err, "")
	}
	day := formatDate(date)
	if f.json {
		return writeJSON(stdout, struct {
			Date  string   `json:"date"`
			Rooms []string `json:"rooms"`
		}{day, append([]string{}, rooms...)})
	}
	if len(rooms) == 0 {
		_, err = fmt.Fprintf(stdout, "No rooms are booked on %s\n", day)
		return err
	}
	if _, err := fmt.Fprintf(stdout, "Rooms booked on %s:\n", day); err != nil {
		return err
	}
	for _, r := range rooms {
		// A Client refuses a reply that lists anything but rooms; this
		// holds even if that changed.
		if _, err := fmt.Fprintln(stdout, client.Printable(r)); err != nil {
			return err
		}
	}
	return nil
}

func (f *clientFlags) bookingsForRoom(ctx context.Context, stdout, stderr io.Writer, room string) error {
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	dates, err := c.BookingsForRoom(ctx, room)
	if err != nil {
		return f.fail(err, "")
	}
	days := make([]string, len(dates))
	for i, d := range dates {
		days[i] = formatDate(d)
	}
	if f.json {
		err = writeJSON(stdout, struct {
			Room  string   `json:"room"`
			Dates []string `json:"dates"`
		}{room, days})
	} else {
		err = printBookedDays(stdout, room, days)
	}
	if err != nil {
		return err
	}
	f.noteFarDates(stderr, room, dates)
	return nil
}

func printBookedDays(stdout io.Writer, room string, days []string) error {
	if len(days) == 0 {
		_, err := fmt.Fprintf(stdout, "Room %s is not booked\n", room)
		return err
	}
	if _, err := fmt.Fprintf(stdout, "Room %s is booked on:\n", room); err != nil {
		return err
	}
	for _, d := range days {
		if _, err := fmt.Fprintln(stdout, d); err != nil {
			return err
		}
	}
	return nil
}

// noteFarDates writes a note on stderr when room is booked on dates
// outside the years 1 to 9999. Such dates are no malformed reply: QDate
// carries them, a server may hold them (poolside's took them before it
// had a horizon), and this listing is how their owner finds what to
// cancel; but Python's datetime, and so the book's PyQt client, cannot
// hold them, so they are likely junk, and the note says how to remove
// them. A note is not a failure: the exit status stays 0.
func (f *clientFlags) noteFarDates(stderr io.Writer, room string, dates []time.Time) {
	const shown = 3
	var far []string
	n := 0
	for _, d := range dates {
		if y := d.Year(); y >= 1 && y <= 9999 {
			continue
		}
		if n++; n <= shown {
			far = append(far, formatDate(d))
		}
	}
	if n == 0 {
		return
	}
	list := strings.Join(far, ", ")
	if n > shown {
		list += fmt.Sprintf(" and %d more", n-shown)
	}
	addr := ""
	if f.addr != defaultClientAddr {
		addr = " --addr " + f.addr
	}
	if n == 1 {
		fmt.Fprintf(stderr, "poolside: note: room %s is booked on 1 date outside the years 1 to 9999 (%s), "+
			"which clients written in Python, the book's among them, cannot read; if it is not a real booking, "+
			"cancel it with 'poolside unbook %s %s%s'\n", room, list, room, list, addr)
		return
	}
	fmt.Fprintf(stderr, "poolside: note: room %s is booked on %d dates outside the years 1 to 9999 (%s), "+
		"which clients written in Python, the book's among them, cannot read; if they are not real bookings, "+
		"cancel each with 'poolside unbook %s DATE%s'\n", room, n, list, room, addr)
}
