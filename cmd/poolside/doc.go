// Command poolside serves the Building Services room-booking protocol and
// holds the tools around it: the client commands (book, unbook,
// bookings), bench, tune, proxy and db. Each subcommand is a file
// (serve.go, bench_cmd.go, ...) that registers itself in subcommands and
// turns flags into a library configuration; the work happens in the
// packages. main calls run, which tests call too.
//
// The command may import every package of the module and any outside
// module; nothing imports it.
package main
