// Package server is poolside's TCP server: an accept loop that hands framed
// requests to a bounded worker pool, in the shape of net/http's Server
// (Serve, ListenAndServe, Shutdown, Close).
//
// Any length-prefixed protocol can be served: a Handler turns one request
// block into one reply block, and Config.Framing says how blocks are
// delimited on the wire (the Building Services quint16 framing by default).
// The Building Services handler lives in package booking and is wired up by
// cmd/poolside.
//
// Four concurrency models, chosen with Config.Model, make the comparison the
// project exists for:
//
//   - ModelPool (the default): one goroutine per connection reads frames;
//     each complete request runs holding one of Workers pool workers,
//     behind a bounded queue. While a worker is free the request runs on
//     the connection's own goroutine (pool.Run), so the hand-off costs a
//     short lock and no goroutine switch; when every worker is busy it
//     waits in the queue and runs on a worker goroutine. When the queue is
//     full the client gets the busy reply at once and the connection stays
//     usable.
//   - ModelSerial: the same, with one worker, so one request at a time runs
//     across all connections (the book's single-threaded event loop). A slow
//     client never blocks the others, because reading and writing happen on
//     the connection goroutines, not on the worker.
//   - ModelConn: each connection is one pool task for its whole life (the
//     book's thread per connection, but bounded). When the pool is full a
//     new connection gets the busy reply and is closed. Here a slow client
//     does hold a worker; the read, idle and write timeouts bound for how
//     long.
//   - ModelUnbounded: a goroutine per connection and no pool, Go's usual
//     idiom; the reference line for benchmarks.
//
// Requests on one connection are answered in order, one at a time, whether
// the client waits for each reply or writes them all first.
//
// Config.Adaptive turns on adaptive sizing (poolside serve --workers auto):
// a control loop feeds measured service times to a pool.Gradient2 limit
// and resizes the pool live; AdaptiveHistory returns its recent
// trajectory. AdminHandler serves GET and PUT /pool, so that a running
// server's pool can be read and resized over HTTP.
//
// The server logs through the logrus.FieldLogger it is given (nil discards),
// with a child logger per connection; expected endings (EOF, timeouts,
// resets, closed connections) are not logged as errors. Counters are read
// with Stats, and an Observer sees every request and connection close.
//
// server imports pool, wire, logrus and golang.org/x/time/rate, never
// booking: the Building Services service reaches it only as a Handler,
// wired up by the command.
package server
