package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

func init() { subcommands = append(subcommands, newDBCmd) }

func newDBCmd(stdout, _ io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Check a booking database file, or copy what can be read from a damaged one",
		Long: `Work on the bbolt file poolside serve keeps its bookings in (--data, by
default ./poolside.db). Stop the server first: these commands wait a moment
for its lock, then say the file is in use.

  poolside db check FILE            is it sound? what does it hold?
  poolside db salvage FILE NEWFILE  copy every booking that can still be read
                                    into a new file

poolside serve checks its file the same way when it starts, and refuses to
start on a damaged one (exit status 5).`,
		Example: `  poolside db check poolside.db
  poolside db salvage poolside.db salvaged.db && mv poolside.db damaged.db && mv salvaged.db poolside.db`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				hint := ""
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					hint = "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageError(fmt.Errorf("unknown command %q for 'poolside db'%s: choose check or salvage (see 'poolside db --help')", args[0], hint))
			}
			return cmd.Help()
		},
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.AddCommand(newDBCheckCmd(stdout), newDBSalvageCmd(stdout))
	return cmd
}

// dbArg is an argument a db subcommand takes: its name in the usage line,
// and what it is.
type dbArg struct{ name, what string }

// dbArgs checks that a db subcommand was given exactly the arguments
// want, and says in words which are missing or that there are too many,
// with the usage line: a usage error (exit status 2).
func dbArgs(want ...dbArg) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		names := make([]string, len(want))
		for i, a := range want {
			names[i] = a.name
		}
		usage := cmd.CommandPath() + " " + strings.Join(names, " ")
		switch {
		case len(args) < len(want):
			var missing []string
			for _, a := range want[len(args):] {
				missing = append(missing, a.name+", "+a.what)
			}
			return usagef(cmd, "missing %s; usage: %s", strings.Join(missing, ", and "), usage)
		case len(args) > len(want):
			quoted := make([]string, len(args))
			for i, a := range args {
				quoted[i] = strconv.Quote(a)
			}
			return usagef(cmd, "too many arguments: got %d (%s), but %s takes only %s; usage: %s",
				len(args), strings.Join(quoted, " "), cmd.CommandPath(), strings.Join(names, " and "), usage)
		}
		return nil
	}
}

func newDBCheckCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check a booking database file and say what it holds or what is wrong",
		Long: `Check the booking database FILE as poolside serve does before serving from it,
and say what it holds or what is wrong with it. The check reads all of the
file: bbolt's structure (its two header pages, every page, key and value in
use, and the list of free pages) and the bookings (the index by date and the
index by room must list the same bookings, of valid rooms and real dates).
It reads the file's journal too (FILE-wal, where a booking is on disk before
it is acknowledged, until the server copies it into FILE): a server stopped by
a crash leaves acknowledged writes there, which the next start applies.

It never changes the file or its journal: it opens them read-only.

Exit status: 0 the file is sound (a summary on standard output); 5 it is
damaged (what is wrong on standard output); 2 bad arguments; 4 the file
cannot be checked (it does not exist, or a running server has it open).`,
		Example: `  poolside db check poolside.db`,
		Args:    dbArgs(dbArg{"FILE", "the database file to check"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDBCheck(stdout, args[0])
		},
	}
}

func runDBCheck(stdout io.Writer, path string) error {
	r, err := booking.CheckBolt(path, booking.BoltOptions{})
	if de, ok := errors.AsType[*booking.DamageError](err); ok && de.Path == booking.JournalPath(path) {
		printProblems(stdout, de.Path, de.Problems, de.Omitted)
		return &exitError{code: exitDamaged, err: &messageError{msg: journalDamaged(path, de.Path), err: err}}
	}
	if de, ok := errors.AsType[*booking.DamageError](err); ok {
		printProblems(stdout, path, de.Problems, de.Omitted)
		msg := fmt.Sprintf("the booking database %s is damaged: restore it from a backup, or copy the bookings that can still be read into a new file with 'poolside db salvage %s NEWFILE'", path, path)
		if de.NotBbolt {
			msg = fmt.Sprintf("%s is not a booking database (it does not even look like a bbolt file): is it the right file? If it is, it is damaged beyond repair: restore it from a backup", path)
		}
		return &exitError{code: exitDamaged, err: &messageError{msg: msg, err: err}}
	}
	if err != nil {
		return dbFileError("check", path, err)
	}
	switch {
	case r.Bookings == 0:
		fmt.Fprintf(stdout, "%s is sound: no bookings yet\n", path)
	default:
		fmt.Fprintf(stdout, "%s is sound: %d %s of %d %s on %d %s, from %s to %s (at most %d on one date)\n",
			path, r.Bookings, textfmt.PluralWord(r.Bookings, "booking", "bookings"), r.Rooms, textfmt.PluralWord(r.Rooms, "room", "rooms"),
			r.Dates, textfmt.PluralWord(r.Dates, "date", "dates"), r.First, r.Last, r.MostOnOneDate)
	}
	fmt.Fprintf(stdout, "  %d bytes: %d pages of %d bytes in use, %d of them free; last commit %d\n", r.Size, r.Pages, r.PageSize, r.FreePages, r.Commit)
	switch journal := booking.JournalPath(path); {
	case r.Pending > 0:
		fmt.Fprintf(stdout, "  journal %s: %d acknowledged %s not copied into the file yet (the server stopped without closing it); the next 'poolside serve' on the file applies them first, and the counts above include them\n",
			journal, r.Pending, textfmt.PluralWord(r.Pending, "write", "writes"))
	case r.Journal:
		fmt.Fprintf(stdout, "  journal %s: empty, every acknowledged write is in the file\n", journal)
	}
	if r.MostOnOneDate > booking.MaxBookingsPerDay {
		fmt.Fprintf(stdout, "note: a date has %d bookings, more than the %d a day poolside serve takes (it was written with a higher limit); serve lists them all and takes no more that day\n",
			r.MostOnOneDate, booking.MaxBookingsPerDay)
	}
	if r.AfterLastDate > 0 {
		fmt.Fprintf(stdout, "note: %d %s after %s, which poolside no longer takes (an older version did): clients that read such a date may fail; find them with 'poolside bookings --room ROOM' and cancel them with 'poolside unbook ROOM DATE'\n",
			r.AfterLastDate, textfmt.PluralWord(r.AfterLastDate, "booking is", "bookings are"), booking.LastDate)
	}
	return nil
}

func newDBSalvageCmd(stdout io.Writer) *cobra.Command {
	var previous bool
	cmd := &cobra.Command{
		Use:   "salvage FILE NEWFILE",
		Short: "Copy every booking that can still be read from a damaged database into a new file",
		Long: `Copy every booking that can still be read consistently from the booking
database FILE, damaged or not, into NEWFILE, a new database that poolside
serve --data NEWFILE can serve. A booking is copied when both of FILE's
indexes (by date and by room) list it; one that only one index lists is
not copied but printed, so that you can book it again with 'poolside book'
if it is real. Parts of FILE that are damaged are skipped; when what leads
to an index's pages is damaged (FILE's root page, say), they are found by
reading every page, if bbolt's list of free pages is whole. If one of
FILE's two header pages is damaged, the bookings are read from the other
one, and the output says that the last commit may be missing. With
--previous they are read as of the commit before the last even when both
header pages are whole: for a file whose last commit's pages are damaged
(bbolt leaves the pages of the commit before alone until the next commit,
so after a clean stop they are usually whole), at the cost of what the
last commit changed.

FILE is never changed, and NEWFILE must not exist: salvage never overwrites
a file. NEWFILE appears complete or not at all.

Exit status: 0 NEWFILE was written (what was copied and dropped on standard
output); 5 FILE is damaged and no booking could be read from it, so no file
was written (what is wrong on standard output); 2 bad arguments, or NEWFILE
exists; 4 anything else (FILE does not exist, a running server has it open,
NEWFILE cannot be written).`,
		Example: `  poolside db salvage poolside.db salvaged.db
  poolside db salvage --previous poolside.db previous.db
  poolside serve --data salvaged.db`,
		Args: dbArgs(dbArg{"FILE", "the database file to copy from"}, dbArg{"NEWFILE", "the new file to copy its bookings into"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDBSalvage(stdout, args[0], args[1], previous)
		},
	}
	cmd.Flags().BoolVar(&previous, "previous", false, "read the bookings as of the commit before the last (when the last commit's pages are damaged)")
	return cmd
}

func runDBSalvage(stdout io.Writer, path, out string, previous bool) error {
	r, err := booking.SalvageBolt(path, out, booking.SalvageOptions{Previous: previous})
	if de, ok := errors.AsType[*booking.DamageError](err); ok {
		printProblems(stdout, path, de.Problems, de.Omitted)
		printDropped(stdout, r.Dropped)
		what := "no booking can be read from " + path
		if len(r.Dropped) > 0 {
			what = "no booking is listed by both indexes of " + path
		}
		var next []string
		if r.PreviousReadable && !previous {
			next = append(next, fmt.Sprintf("try 'poolside db salvage --previous %s %s', which reads the commit before the last", path, out))
		}
		next = append(next, "restore the bookings from a backup")
		if len(r.Dropped) > 0 {
			next = append(next, "book those listed above again on a new database")
		}
		msg := fmt.Sprintf("%s, so %s was not written: %s", what, out, strings.Join(next, "; or "))
		return &exitError{code: exitDamaged, err: &messageError{msg: msg, err: err}}
	}
	if errors.Is(err, fs.ErrExist) {
		return usageError(&messageError{msg: fmt.Sprintf("%s already exists: salvage never overwrites a file; name a new one", out), err: err})
	}
	if err != nil {
		return dbFileError("salvage", path, err)
	}
	if r.Sound {
		fmt.Fprintf(stdout, "%s is sound: copied all %d %s to %s\n", path, r.Copied, textfmt.PluralWord(r.Copied, "booking", "bookings"), out)
		return nil
	}
	printProblems(stdout, path, r.Problems, r.Omitted)
	fmt.Fprintf(stdout, "copied %d %s to %s\n", r.Copied, textfmt.PluralWord(r.Copied, "booking", "bookings"), out)
	printDropped(stdout, r.Dropped)
	if r.PreviousReadable && !previous {
		fmt.Fprintf(stdout, "if bookings are missing because the last commit's pages are damaged, 'poolside db salvage --previous %s NEWFILE' reads the commit before the last instead\n", path)
	}
	fmt.Fprintf(stdout, "to serve from it: poolside serve --data %s (or move %s away and %s in its place)\n", out, path, out)
	return nil
}

// printDropped lists the bookings salvage did not copy, if any.
func printDropped(w io.Writer, dropped []booking.DroppedBooking) {
	if len(dropped) == 0 {
		return
	}
	fmt.Fprintf(w, "not copied: %d %s that only one index lists (if real, book them again with 'poolside book ROOM DATE'):\n",
		len(dropped), textfmt.PluralWord(len(dropped), "booking", "bookings"))
	for _, b := range dropped {
		fmt.Fprintf(w, "  %s %s (only in the %s index)\n", b.Room, b.Date, b.Index)
	}
}

// printProblems lists what is wrong with the database at path.
func printProblems(w io.Writer, path string, problems []string, omitted int) {
	fmt.Fprintf(w, "%s is damaged:\n", path)
	for _, p := range problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	if omitted > 0 {
		fmt.Fprintf(w, "  (and %d more %s)\n", omitted, textfmt.PluralWord(omitted, "problem", "problems"))
	}
}

// dbFileError is the error of a db command that could not work on the
// database at path for a reason other than damage (exit status 4).
func dbFileError(verb, path string, err error) error {
	var msg string
	var pe *fs.PathError
	switch {
	case errors.Is(err, booking.ErrLocked):
		msg = fmt.Sprintf("cannot %s %s: it is in use by another process (a running poolside serve?); stop it first, or work on a copy made while it was stopped", verb, path)
	case errors.As(err, &pe):
		msg = fmt.Sprintf("cannot %s %s: %s: %v", verb, path, pe.Path, pe.Err)
		if pe.Path == path {
			msg = fmt.Sprintf("cannot %s %s: %v", verb, path, pe.Err)
		}
	default:
		msg = fmt.Sprintf("cannot %s %s: %v", verb, path, err)
	}
	return &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
}

// journalDamaged says what to do about the damaged journal of the
// database at path.
func journalDamaged(path, journal string) string {
	return fmt.Sprintf("the journal %s of the booking database %s is damaged, and it may hold acknowledged bookings that are not in the database file yet: "+
		"restore both files from a backup; or move the journal away to serve from the file alone, without those bookings ('poolside db check %s' then says what the file holds)",
		journal, path, path)
}

// damagedError is serve's error for the damaged database at path (exit
// status 5): what is wrong, that serve will not start on it, and what to
// do.
func damagedError(path string, err error) error {
	what := "it is not as poolside writes it"
	de, ok := errors.AsType[*booking.DamageError](err)
	if ok && de.NotBbolt {
		return &exitError{code: exitDamaged, err: &messageError{
			msg: fmt.Sprintf("--data %s is not a booking database (it does not even look like a bbolt file), so the server will not start on it: check that --data names the right file; "+
				"if it is the right one, it is damaged beyond repair: restore it from a backup, or move it away to start with an empty one", path),
			err: err,
		}}
	}
	if ok && len(de.Problems) > 0 {
		what = de.Problems[0]
		if n := len(de.Problems) - 1 + de.Omitted; n > 0 {
			what += fmt.Sprintf(" (and %d more %s)", n, textfmt.PluralWord(n, "problem", "problems"))
		}
	}
	if ok && de.Path == booking.JournalPath(path) {
		return &exitError{code: exitDamaged, err: &messageError{
			msg: fmt.Sprintf("the server will not start on --data %s: %s (%s)", path, journalDamaged(path, de.Path), what),
			err: err,
		}}
	}
	return &exitError{code: exitDamaged, err: &messageError{
		msg: fmt.Sprintf("the booking database %s is damaged, so the server will not start on it: %s. "+
			"Restore it from a backup, or move it away to start with an empty one; "+
			"'poolside db check %s' lists what is wrong, and 'poolside db salvage %s NEWFILE' copies the bookings that can still be read into a new file",
			path, what, path, path),
		err: err,
	}}
}
