package load

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poolside-dev/poolside/internal/textfmt"
)

// Defaults used for zero Config and Window fields.
const (
	// DefaultClients is the number of clients when Config.Clients is 0.
	DefaultClients = 16
	// DefaultDuration is the measured time when Window.Duration is 0.
	DefaultDuration = 10 * time.Second
	// DefaultTimeout bounds each request when Config.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// MaxRate is the highest Config.Rate: one request scheduled every
	// microsecond. Faster, the schedule's interval would round to nothing.
	MaxRate = float64(time.Second / time.Microsecond)
)

// Window is one measurement: Warmup of load whose requests are not
// measured (the settle time after a change), then Duration of measured
// load. The zero Window measures DefaultDuration with no warm-up and no
// request cap.
type Window struct {
	// Warmup is the time load runs before measuring starts. 0 means none.
	Warmup time.Duration

	// Duration is the measured time. 0 means DefaultDuration.
	Duration time.Duration

	// MaxRequests, if not 0, ends the window early once this many
	// requests have been sent in its measured part; they are still
	// waited for. The window's length is then the time until the last of
	// them completed.
	MaxRequests int64
}

// Validate reports each field out of range as a FieldError, joined.
func (w Window) Validate() error {
	var errs []*FieldError
	if w.Warmup < 0 {
		errs = append(errs, invalid("Warmup", w.Warmup, "must be 0 or more"))
	}
	if w.Duration < 0 {
		errs = append(errs, invalid("Duration", w.Duration, fmt.Sprintf("must be 0 (default %v) or more", DefaultDuration)))
	}
	if w.MaxRequests < 0 {
		errs = append(errs, invalid("MaxRequests", w.MaxRequests, "must be 0 (no cap) or more"))
	}
	return joinFields(errs...)
}

// WithDefaults returns w with its zero fields resolved: Duration 0 is
// DefaultDuration.
func (w Window) WithDefaults() Window {
	if w.Duration == 0 {
		w.Duration = DefaultDuration
	}
	return w
}

// Config configures a Runner. The zero value, with Addr or Server set, is a
// closed loop of DefaultClients clients on persistent connections running
// DefaultMix, each request bounded by DefaultTimeout.
type Config struct {
	// Addr is the server's host:port. Empty means Server's address; one of
	// the two is required by NewRunner (Validate accepts neither, so that
	// a Config can describe a load before its server exists).
	Addr string

	// Server, if not nil, is the in-process server at Addr, seen through
	// its Probe (a *LocalServer). Results then include its queue wait,
	// service time and pool occupancy.
	Server Probe

	// Clients is the number of clients, each with one request in flight at
	// most: the concurrency of a closed loop, the most requests
	// outstanding in an open loop. 0 means DefaultClients.
	Clients int

	// ConnPerRequest makes every request dial a fresh connection and close
	// it after the reply, as the book's own client does. False (the zero
	// value) keeps one persistent connection per client.
	ConnPerRequest bool

	// Rate, if above 0, makes an open loop that schedules this many
	// requests per second across all clients; 0 means a closed loop. It
	// must be finite and at most MaxRate, and a window's measured time
	// must hold at least one interval between requests (1/Rate): Run
	// refuses a Window.Duration shorter than that.
	Rate float64

	// Timeout bounds each request: connecting, sending and the reply. 0
	// means DefaultTimeout. A request past it counts as a timeout error.
	Timeout time.Duration

	// Mix is the request mix. The zero value means DefaultMix, or
	// ReadOnlyMix with ReadOnly.
	Mix Mix

	// ReadOnly sends only the two queries, BOOKINGSONDATE and
	// BOOKINGSFORROOM, so that the run changes nothing on the server. Mix
	// must then weigh BOOK and UNBOOK 0; the zero Mix then means the two
	// queries in equal measure.
	ReadOnly bool

	// JournalDir is where a run against a server whose store it does not
	// own (Server nil, or a LocalServer with its own Handler) keeps the
	// journal of the bookings it may hold, so that CleanupJournals can
	// unbook what a run that was killed left behind. The directory is made
	// if need be. Empty means no journal is kept; the run still cleans up
	// after itself when its Runner closes.
	JournalDir string

	// OnCleanup, if not nil, is called by Runner.Close with what the
	// clean-up did (see Cleanup), against a server whose store the run
	// does not own, unless ReadOnly.
	OnCleanup func(Cleanup)

	// Seed seeds the choice of actions from the mix; runs with one seed
	// send the same sequence of actions per client.
	Seed uint64

	// Dialer, if not nil, makes the clients' connections (for example
	// through a fault injector); see client.Config.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	// MetricsURL, if not empty, is the running server's Prometheus
	// /metrics (poolside serve --metrics-addr), read at the start and the
	// end of each measured window: the Result then has the server's own
	// view of it (Result.Metrics), its time waiting for a worker and, on a
	// database store, for a database connection. NewRunner reads it once
	// and fails (ErrMetrics) if it is not a poolside server's.
	MetricsURL string

	// Live, if not nil, counts every request as it completes, warm-up
	// included, for a live progress display (see Live). Several runs may
	// share one.
	Live *Live
}

// Validate reports each field out of range as a FieldError, joined. An
// empty Addr with a nil Server is valid here; NewRunner refuses it.
func (c Config) Validate() error {
	var errs []*FieldError
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, invalid("Addr", c.Addr, "must be host:port"))
		}
	}
	if c.Clients < 0 {
		errs = append(errs, invalid("Clients", c.Clients, fmt.Sprintf("must be 0 (default %d) or more", DefaultClients)))
	}
	if c.MetricsURL != "" {
		if u, err := url.Parse(c.MetricsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, invalid("MetricsURL", c.MetricsURL, "must be an http:// URL, such as http://127.0.0.1:9408/metrics"))
		} else if c.Server != nil {
			errs = append(errs, invalidf("MetricsURL", "{MetricsURL} reads a running server's metrics; the in-process server ({Server}) reports its own"))
		}
	}
	switch {
	case c.Rate < 0 || math.IsNaN(c.Rate):
		errs = append(errs, invalid("Rate", c.Rate, "must be 0 (closed loop) or more"))
	case c.Rate > MaxRate:
		errs = append(errs, invalidf("Rate", "{Rate} %v is more than 1,000,000 requests per second, the most an open loop schedules (one every microsecond)", c.Rate))
	case intervalOverflows(c.Rate):
		errs = append(errs, invalidf("Rate", "{Rate} %v schedules one request every %s, longer than any run can be; give a rate that sends at least one request in the measured time, such as {Rate} 1", c.Rate, formatInterval(c.Rate)))
	}
	if c.Timeout < 0 {
		errs = append(errs, invalid("Timeout", c.Timeout, fmt.Sprintf("must be 0 (default %v) or more", DefaultTimeout)))
	}
	if err := c.Mix.validate(); err != nil {
		errs = append(errs, err)
	} else if c.ReadOnly && c.Mix.books() {
		errs = append(errs, invalidf("Mix", "{ReadOnly} sends only queries, and {Mix} %v books or unbooks: give a mix of ondate and forroom only, such as {Mix} ondate=1,forroom=1", c.Mix))
	}
	return joinFields(errs...)
}

// interval returns the time between an open loop's scheduled requests at
// rate, which must be valid and above 0.
func interval(rate float64) time.Duration { return time.Duration(float64(time.Second) / rate) }

// intervalOverflows reports whether the time between requests at rate
// (more than 0) is too long for a time.Duration: such a rate is invalid.
func intervalOverflows(rate float64) bool {
	return rate > 0 && float64(time.Second)/rate > math.MaxInt64
}

// formatInterval prints the time between requests at rate, which may be
// too long for a time.Duration (in days or years, then).
func formatInterval(rate float64) string {
	secs := 1 / rate
	switch {
	case secs >= 365*24*3600:
		return fmt.Sprintf("%.3g years", secs/(365*24*3600))
	case secs >= 24*3600:
		return fmt.Sprintf("%.3g days", secs/(24*3600))
	}
	return interval(rate).Round(time.Microsecond).String()
}

// CheckRate returns a FieldError of rateField if an open loop at rate (0
// for a closed loop, always fine) would schedule its requests further
// apart than measured, the measured time of a window set by
// measuredField: at most one request would be measured, or none. The
// configurations that hold a rate and a measured time (a Window's
// Duration, a search's step) call it with their fields' paths.
func CheckRate(rate float64, rateField string, measured time.Duration, measuredField string) error {
	if rate <= 0 || measured <= 0 || float64(time.Second)/rate <= float64(measured) {
		return nil
	}
	r, m := "{"+rateField+"}", "{"+measuredField+"}"
	return invalidf(rateField, "%s %v sends one request every %s, longer than the %v measured (%s), so at most one request would be measured; raise %s to at least %s, or %s to at least %s",
		r, rate, formatInterval(rate), measured, m, r, textfmt.Rate(1/measured.Seconds()), m, formatInterval(rate))
}

// WithDefaults returns c with its zero fields resolved: Addr from Server,
// Clients, Timeout and Mix (DefaultMix, or ReadOnlyMix with ReadOnly).
func (c Config) WithDefaults() Config {
	if c.Addr == "" && c.Server != nil {
		c.Addr = c.Server.Addr()
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.Mix.total() == 0 && c.ReadOnly:
		c.Mix = ReadOnlyMix
	case c.Mix.total() == 0:
		c.Mix = DefaultMix
	}
	return c
}

// Mix weighs the actions a client sends: each request is BOOK with
// probability Book/total, and so on. An UNBOOK cancels the client's
// oldest booking still standing; a client with none books instead, and a
// client holding 8 cancels its oldest instead of booking, so that what a
// run holds stays bounded. A BOOK goes to a (room, date) pair the run has
// seen free; while the run has none, it reads a date to find some
// (BOOKINGSONDATE), and when none is to be had within the server's
// horizon it cancels, or queries. The zero Mix means DefaultMix.
type Mix struct {
	Book, Unbook, BookingsOnDate, BookingsForRoom int
}

// DefaultMix books and cancels in equal measure, so the store stays small
// however long the run, with one query in five.
var DefaultMix = Mix{Book: 4, Unbook: 4, BookingsOnDate: 1, BookingsForRoom: 1}

// ReadOnlyMix is the mix of a read-only run whose Mix is zero: the two
// queries in equal measure.
var ReadOnlyMix = Mix{BookingsOnDate: 1, BookingsForRoom: 1}

// books reports whether m sends BOOK or UNBOOK.
func (m Mix) books() bool { return m.Book+m.Unbook > 0 }

func (m Mix) total() int { return m.Book + m.Unbook + m.BookingsOnDate + m.BookingsForRoom }

// Validate reports negative weights as a FieldError of the field Mix.
func (m Mix) Validate() error {
	if err := m.validate(); err != nil {
		return err
	}
	return nil
}

func (m Mix) validate() *FieldError {
	if m.Book < 0 || m.Unbook < 0 || m.BookingsOnDate < 0 || m.BookingsForRoom < 0 {
		return invalid("Mix", m, "must weigh no action below 0")
	}
	return nil
}

// String returns m as ParseMix reads it.
func (m Mix) String() string {
	return fmt.Sprintf("book=%d,unbook=%d,ondate=%d,forroom=%d", m.Book, m.Unbook, m.BookingsOnDate, m.BookingsForRoom)
}

// ParseMix parses a mix such as "book=4,unbook=4,ondate=1,forroom=1";
// actions left out weigh 0. Errors wrap ErrInvalidConfig.
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil || n < 0 {
			return Mix{}, fmt.Errorf("%w: mix item %q is not ACTION=WEIGHT with a weight of 0 or more", ErrInvalidConfig, part)
		}
		switch strings.ToLower(name) {
		case "book":
			m.Book = n
		case "unbook":
			m.Unbook = n
		case "ondate", "bookingsondate":
			m.BookingsOnDate = n
		case "forroom", "bookingsforroom":
			m.BookingsForRoom = n
		default:
			return Mix{}, fmt.Errorf("%w: mix action %q: choose book, unbook, ondate or forroom", ErrInvalidConfig, name)
		}
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("%w: mix %q weighs every action 0", ErrInvalidConfig, s)
	}
	return m, nil
}
