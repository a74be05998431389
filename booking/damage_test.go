package booking_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// damageSeed makes the byte flips of TestBoltDamage repeatable; set
// POOLSIDE_DAMAGE_SEED to try others, and POOLSIDE_DAMAGE_FLIPS to flip
// more random bytes per page than the default 3 (1 with -short).
const damageSeed = 12

// knownBooking is one booking of the known store.
type knownBooking struct {
	Room string
	Date wire.Date
}

// knownBookings is the content of the store the damage tests build: room
// 312 on 150 consecutive dates (a room bucket of its own page), and two
// more rooms on most of those dates out of 40 (small buckets, inline in
// their parent's pages), about 450 in all over 150 dates; enough for the two
// indexes to need branch pages.
func knownBookings() []knownBooking {
	first := date(2030, 1, 1)
	rooms := validRooms(41)[1:] // 101 is the room the tests book afresh
	var bs []knownBooking
	for i := range 150 {
		d := first + wire.Date(i)
		on := []string{"312"}
		for _, r := range []string{rooms[i%40], rooms[(i*7+3)%40]} {
			if !slices.Contains(on, r) {
				on = append(on, r)
			}
		}
		for _, r := range on {
			bs = append(bs, knownBooking{r, d})
		}
	}
	return bs
}

// buildKnownStore writes the known bookings to a new store at path
// through OpenBolt and Book, from several goroutines so that commits are
// shared as on a busy server, and books and unbooks 40 more so that the
// file has free pages. It returns the bookings.
func buildKnownStore(t *testing.T, path string) []knownBooking {
	t.Helper()
	ctx := context.Background()
	s, err := booking.OpenBolt(path, booking.BoltOptions{})
	require.NoError(t, err)
	known := knownBookings()
	var extra []knownBooking
	for i := range 40 {
		extra = append(extra, knownBooking{validRooms(340)[100+i], date(2031, 1, 1) + wire.Date(i)})
	}
	var wg sync.WaitGroup
	const writers = 8
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(known); i += writers {
				assert.NoError(t, s.Book(ctx, known[i].Room, known[i].Date, 340))
			}
			for i := w; i < len(extra); i += writers {
				assert.NoError(t, s.Book(ctx, extra[i].Room, extra[i].Date, 340))
			}
		})
	}
	wg.Wait()
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(extra); i += writers {
				assert.NoError(t, s.Unbook(ctx, extra[i].Room, extra[i].Date))
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close())
	return known
}

// damage is one way of damaging the known store's file: flip (XOR) the
// byte at Offset, zero the page at Offset (a write the disk lost), or cut
// the file to Size bytes.
type damage struct {
	Flip   bool
	Zero   bool
	Offset int64
	XOR    byte
	Size   int64
}

func (d damage) String() string {
	if d.Zero {
		return fmt.Sprintf("page %d zeroed", d.Offset/int64(os.Getpagesize()))
	}
	if d.Flip {
		return fmt.Sprintf("byte %d (page %d +%d) ^= %#02x", d.Offset, d.Offset/int64(os.Getpagesize()), d.Offset%int64(os.Getpagesize()), d.XOR)
	}
	return fmt.Sprintf("cut to %d bytes", d.Size)
}

// damages lists the damages tried on a file of size bytes whose data
// spans pages pages: in each of those pages and the two after them, a
// flip of each field of the page header and of perPage random bytes after
// it (as many again in the checksummed part of the two header pages), and
// the whole page zeroed;
// then the file cut at each page boundary up to two pages past the data
// (0 included: an empty file), in the middle of each of the first eight
// pages, and one byte short.
func damages(size int64, pages int, seed uint64, perPage int) []damage {
	ps := int64(os.Getpagesize())
	r := rand.New(rand.NewPCG(seed, 0x706f6f6c))
	flip := func(off int64) damage { return damage{Flip: true, Offset: off, XOR: byte(1 + r.IntN(255))} }
	last := min(int64(pages)+2, size/ps)
	var ds []damage
	for pg := range last {
		at := pg * ps
		for _, off := range []int64{0, 8, 10, 12} { // id, flags, count, overflow
			ds = append(ds, flip(at+off))
		}
		if pg < 2 {
			for range perPage {
				ds = append(ds, flip(at+16+r.Int64N(64)))
			}
		}
		for range perPage {
			ds = append(ds, flip(at+16+r.Int64N(ps-16)))
		}
		ds = append(ds, damage{Zero: true, Offset: at})
	}
	for pg := range last + 1 {
		ds = append(ds, damage{Size: pg * ps})
		if pg < 8 {
			ds = append(ds, damage{Size: pg*ps + ps/2})
		}
	}
	return append(ds, damage{Size: size - 1})
}

// damageCase is what TestBoltDamage hands its child process.
type damageCase struct {
	Base    string
	Known   []knownBooking
	Damages []damage
}

// TestBoltDamage is the fuzz-style test of the store file: it damages a
// file of known bookings in every page and cuts it short in many ways, and
// opens each copy as the server does (OpenBolt). Every copy must be
// refused with an error that wraps ErrDamaged and names the file, or
// served with every answer right: the rooms of every date, the dates of
// every room, and a new booking. The copies are opened in a child process
// (this test binary again, running TestBoltDamageChild), so that a copy
// that makes the process die on a signal is reported as such and the
// others still run.
func TestBoltDamage(t *testing.T) {
	dir := t.TempDir()
	c := damageCase{Base: filepath.Join(dir, "base.db")}
	c.Known = buildKnownStore(t, c.Base)
	fi, err := os.Stat(c.Base)
	require.NoError(t, err)
	seed := uint64(damageSeed)
	if s := os.Getenv("POOLSIDE_DAMAGE_SEED"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	perPage := 3
	if testing.Short() {
		perPage = 1
	}
	if s := os.Getenv("POOLSIDE_DAMAGE_FLIPS"); s != "" {
		perPage, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	report, err := booking.CheckBolt(c.Base, booking.BoltOptions{})
	require.NoError(t, err)
	require.Equal(t, len(c.Known), report.Bookings)
	c.Damages = damages(fi.Size(), report.Pages, seed, perPage)
	raw, err := json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "case.json"), raw, 0o600))

	verdicts := runDamageChild(t, dir, len(c.Damages))
	counts := map[string]int{}
	for i, d := range c.Damages {
		v, ok := verdicts[i]
		if !assert.True(t, ok, "%s: no verdict", d) {
			continue
		}
		kind, _, _ := strings.Cut(v, " ")
		counts[kind]++
		if kind != "served" && kind != "refused" {
			t.Errorf("%s: %s", d, v)
		}
	}
	t.Logf("%d damaged copies of a %d-byte file of %d bookings (seed %d): %d refused as damaged, %d served with every answer right",
		len(c.Damages), fi.Size(), len(c.Known), seed, counts["refused"], counts["served"])
	assert.NotZero(t, counts["refused"])
	assert.NotZero(t, counts["served"], "flips in unused bytes and free pages change no answer")
}

// runDamageChild runs TestBoltDamageChild over the case in dir and returns
// each damage's verdict. A child that dies in the middle of a damage gets
// that damage the verdict "crashed: ..." and is started again after it.
func runDamageChild(t *testing.T, dir string, n int) map[int]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	verdicts := map[int]string{}
	for start := 0; start < n; {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBoltDamageChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "POOLSIDE_DAMAGE_DIR="+dir, "POOLSIDE_DAMAGE_START="+strconv.Itoa(start))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		current, last := -1, start-1
		var tail []string
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch word, rest, _ := strings.Cut(line, " "); word {
			case "begin":
				current, _ = strconv.Atoi(rest)
			case "end":
				num, quoted, _ := strings.Cut(rest, " ")
				i, _ := strconv.Atoi(num)
				verdict, err := strconv.Unquote(quoted)
				if err != nil {
					verdict = quoted
				}
				verdicts[i], last, current = verdict, i, -1
			default:
				tail = append(tail, line)
			}
		}
		_, _ = io.Copy(io.Discard, out) // a line too long for the scanner must not block the child
		waitErr := cmd.Wait()
		require.NoError(t, ctx.Err(), "the child processes took too long")
		if current < 0 {
			if last == n-1 {
				require.NoError(t, waitErr, "the child process failed after the last damage: %s %s", strings.Join(tail, "\n"), stderr.String())
				break
			}
			t.Fatalf("the child process stopped before damage %d: %v\n%s\n%s", last+1, waitErr, strings.Join(tail, "\n"), stderr.String())
		}
		msg := stderr.String()
		if i := strings.Index(msg, "\n\n"); i > 0 && i < 2000 {
			msg = msg[:i] // the signal or panic line, not every goroutine's stack
		}
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
		verdicts[current] = fmt.Sprintf("crashed: %v: %s", waitErr, msg)
		start = current + 1
	}
	return verdicts
}

// TestBoltDamageChild opens the damaged copies of TestBoltDamage's case,
// from POOLSIDE_DAMAGE_START on, printing "begin I" before damage I and
// "end I VERDICT" after it. It does nothing unless TestBoltDamage runs it.
func TestBoltDamageChild(t *testing.T) {
	dir := os.Getenv("POOLSIDE_DAMAGE_DIR")
	if dir == "" {
		t.Skip("run by TestBoltDamage in a child process")
	}
	start, err := strconv.Atoi(os.Getenv("POOLSIDE_DAMAGE_START"))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	require.NoError(t, err)
	var c damageCase
	require.NoError(t, json.Unmarshal(raw, &c))
	base, err := os.ReadFile(c.Base)
	require.NoError(t, err)
	// The copies go under the parent's directory, which its own cleanup
	// removes even when this process dies of a signal.
	work, err := os.MkdirTemp(dir, "child-")
	require.NoError(t, err)
	for i := start; i < len(c.Damages); i++ {
		fmt.Printf("begin %d\n", i)
		path := filepath.Join(work, fmt.Sprintf("damaged-%d.db", i))
		v := tryDamage(path, base, c.Damages[i], c.Known)
		if len(v) > 1000 {
			v = v[:1000] + "..."
		}
		fmt.Printf("end %d %q\n", i, v) // quoted: a wrong answer may hold any byte
		_ = os.Remove(path)
	}
}

// tryDamage writes base with damage d to path, opens it with OpenBolt and
// returns the verdict: "refused PROBLEM", "served", or what went wrong.
func tryDamage(path string, base []byte, d damage, known []knownBooking) (verdict string) {
	defer func() {
		if r := recover(); r != nil {
			verdict = fmt.Sprintf("panicked: %v", r)
		}
	}()
	b := slices.Clone(base)
	switch {
	case d.Zero:
		clear(b[d.Offset : d.Offset+int64(os.Getpagesize())])
	case d.Flip:
		b[d.Offset] ^= d.XOR
	default:
		b = b[:d.Size]
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "setup: " + err.Error()
	}
	s, err := booking.OpenBolt(path, booking.BoltOptions{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if !errors.Is(err, booking.ErrDamaged) || !strings.Contains(msg, path+" is damaged: ") {
			return "unclear: refused without saying that " + path + " is damaged: " + msg
		}
		return "refused " + msg
	}
	defer s.Close()
	if why := wrongAnswer(s, known); why != "" {
		return "wrong: " + why
	}
	return "served"
}

// wrongAnswer returns what s answers differently from the known bookings,
// or "" when every answer is right: the rooms of each date knownBooking and of
// the next one, the dates of every valid room, and a new booking.
func wrongAnswer(s booking.Store, known []knownBooking) string {
	ctx := context.Background()
	onDate := map[wire.Date][]string{}
	forRoom := map[string][]wire.Date{}
	for _, b := range known {
		onDate[b.Date] = append(onDate[b.Date], b.Room)
		forRoom[b.Room] = append(forRoom[b.Room], b.Date)
	}
	var dates []wire.Date
	for d := range onDate {
		dates = append(dates, d, d+1000)
	}
	for _, d := range dates {
		want := onDate[d]
		slices.Sort(want)
		got, err := s.RoomsOn(ctx, d)
		if err != nil {
			return fmt.Sprintf("RoomsOn(%s): %v", d, err)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("RoomsOn(%s) = %v, want %v", d, got, want)
		}
	}
	for _, room := range validRooms(340) {
		want := forRoom[room]
		slices.Sort(want)
		got, err := s.DatesFor(ctx, room)
		if err != nil {
			return fmt.Sprintf("DatesFor(%s): %v", room, err)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("DatesFor(%s) = %v, want %v", room, got, want)
		}
	}
	fresh := date(2030, 1, 1) + 20
	if err := s.Book(ctx, "101", fresh, 340); err != nil {
		return fmt.Sprintf("Book(101, %s): %v", fresh, err)
	}
	if got, err := s.RoomsOn(ctx, fresh); err != nil || !slices.Contains(got, "101") {
		return fmt.Sprintf("after a new booking, RoomsOn(%s) = %v, %v", fresh, got, err)
	}
	return ""
}

// TestBoltCrashIsNotDamage kills a process that books from several
// goroutines with SIGKILL, ten times at random moments on the same file,
// and opens the file after each kill: a commit cut off by a crash is not
// damage, so every open succeeds, with every booking acknowledged before
// the kill. (The check refuses files bbolt alone would serve; this makes
// sure it never refuses one that a crash left behind.)
func TestBoltCrashIsNotDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	r := rand.New(rand.NewPCG(damageSeed, 7))
	var acked []knownBooking
	for round := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBoltCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "POOLSIDE_CRASH_DB="+path, "POOLSIDE_CRASH_ROUND="+strconv.Itoa(round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		want := 1 + r.IntN(60) // acknowledgements before the kill
		sc := bufio.NewScanner(out)
		for n := 0; n < want && sc.Scan(); {
			var b knownBooking
			if _, err := fmt.Sscanf(sc.Text(), "booked %s %d", &b.Room, &b.Date); err == nil {
				acked = append(acked, b)
				n++
			}
		}
		require.NoError(t, cmd.Process.Kill())
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		cancel()

		s, err := booking.OpenBolt(path, booking.BoltOptions{})
		require.NoError(t, err, "round %d: %s", round, stderr.String())
		for _, b := range acked {
			dates, err := s.DatesFor(context.Background(), b.Room)
			require.NoError(t, err)
			require.Contains(t, dates, b.Date, "round %d: acknowledged booking %v lost", round, b)
		}
		require.NoError(t, s.Close())
	}
	t.Logf("%d acknowledged bookings kept over 10 kills", len(acked))
}

// TestBoltCrashChild books into POOLSIDE_CRASH_DB from 8 goroutines until
// it is killed, printing "booked ROOM DATE" for each booking acknowledged.
// It does nothing unless TestBoltCrashIsNotDamage runs it.
func TestBoltCrashChild(t *testing.T) {
	path := os.Getenv("POOLSIDE_CRASH_DB")
	if path == "" {
		t.Skip("run by TestBoltCrashIsNotDamage in a child process")
	}
	round, err := strconv.Atoi(os.Getenv("POOLSIDE_CRASH_ROUND"))
	require.NoError(t, err)
	s, err := booking.OpenBolt(path, booking.BoltOptions{})
	require.NoError(t, err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			room := validRooms(340)[round*8+w]
			for i := range 2000 { // bounded; the parent kills it long before
				d := date(2030, 1, 1) + wire.Date(i)
				if err := s.Book(context.Background(), room, d, 340); err != nil {
					return
				}
				if i%3 == 0 { // and unbook, so pages are freed and reused
					if err := s.Unbook(context.Background(), room, d); err != nil {
						return
					}
					continue
				}
				mu.Lock()
				fmt.Printf("booked %s %d\n", room, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
