// Package load is poolside's load generator: it drives a Building
// Services server through package client and measures what it does,
// client side and, for a server in the same process (a LocalServer, seen
// through its Probe), server side. Package compare compares concurrency
// models with it, and package tune searches a pool size.
//
// # Loads
//
// A Runner keeps Config.Clients clients (each with its own connection, or
// dialing one connection per request when Config.ConnPerRequest is set)
// and runs measurement windows with them (Runner.Run). A window starts
// with a warm-up whose requests are not measured, then measures for its
// duration; it may also be capped by a request count. Every load loop is
// bounded both in time and, per request, by Config.Timeout. A window
// measures the requests that complete in it; those still waiting for a
// reply when it ends count for nothing and are cut off after a short
// grace, and the clients that got no reply in the whole window are
// counted (Result.Starved) and warned about.
//
//   - Closed loop (Config.Rate 0): each client sends its next request as
//     soon as the previous reply arrived. Latency is the time of one
//     request; throughput is what C clients can get.
//   - Open loop (Config.Rate > 0): requests are scheduled at a fixed rate,
//     the i-th at start + i/Rate, and the clients send them in turn.
//     Latency is measured from each request's intended send time, so a
//     server stall is charged to every request that should have been sent
//     during it (coordinated omission corrected, like wrk2), and a
//     backlog built in the warm-up shows in the window; the plain service
//     time, from the actual send, is reported too.
//
// The request mix (Mix) books, cancels and queries rooms, inside the
// server's booking horizon: the run learns the last date a server takes
// bookings for from its refusal of a BOOK of 9999-12-31 (booking.LastDate),
// and books from that date backwards to the day after tomorrow, five rooms
// a date, where real bookings are rarest. Each client holds at most 8
// bookings at a time (an unbook cancels its oldest), and a (room, date)
// pair the run cancelled is booked again after every other free one, so a
// run of any length needs only so many pairs. Config.ReadOnly sends the
// two queries only.
//
// # Leaving a server as it found it
//
// Against a server whose store the Runner does not own (Config.Server nil,
// or a Probe whose FreshStore says so, such as a LocalServer with its own
// Handler) a run books only pairs it has
// read as free (BOOKINGSONDATE, as the request of the client that needs
// one), and never one someone else holds: a BOOK refused as a duplicate or
// fully booked is the server's right answer, counted in
// Result.Unavailable and not as an error, and the pair is not used again.
// Runner.Close then unbooks, over fresh connections and with its own
// deadline, every booking the run still holds, and every one whose BOOK
// got no answer (a timeout, a cut connection) if it was made, also after a
// Run that failed or whose context ended; it never unbooks a pair the run
// did not book itself after seeing it free. What it did is a Cleanup
// (Config.OnCleanup); bookings it could not unbook are listed there, and
// Close's error wraps ErrCleanup. With Config.JournalDir, the run lists
// the bookings it may hold in a journal file as it goes (written before
// each BOOK is sent), so that CleanupJournals can unbook what a run killed
// before its clean-up left. The residual risks are stated where they
// arise: a real user who books the very pair of a run's BOOK left without
// an answer, in the moment between the run's read and its clean-up, would
// see that booking unbooked; and a BOOK the server carries out after the
// clean-up's second look is left behind, unseen.
//
// # Results
//
// A Result holds HdrHistogram percentiles (p50, p90, p99, p99.9, max),
// errors counted by kind (busy, timeout, server, connection, other), the
// process's CPU time per request (getrusage), and, when the Runner has
// the LocalServer it measures, the server's own view: queue wait and
// service time from a server.Observer, pool workers running and requests
// waiting sampled through the window, and a Little's-law check (L = X·W)
// on both sides. Warnings say when the load generator, not the server,
// limited the run. A server in the same process shares its CPU with the
// load generator, so CPU per request then counts both; Result.CPU.Scope
// says which.
//
// # Stepping through pool sizes
//
// For a load that steps through pool sizes, start one LocalServer, make
// one Runner for it, and between windows call LocalServer.Resize: each
// Run's warm-up is the settle time after the change, and its Result the
// step's figures. Package tune does exactly that as a search.
//
// # Configurations
//
// Config, Window and ServerConfig are plain structs whose zero fields mean
// their defaults. Their Validate methods report each field out of range
// as a *FieldError (joined), which names the field and wraps
// ErrInvalidConfig; a configuration that holds one of them reports its
// fields under its own (PrefixFields), so that a command can map every
// field to its flag.
//
// The package does not log or print: it returns results and errors. It
// may import client, server, booking, wire, internal/textfmt,
// HdrHistogram and the standard library; never compare or tune.
package load
