// Package faults injects deterministic network faults into any net.Conn,
// net.Listener or TCP path: slow, chunked (partial) and stalled reads and
// writes, cuts, resets, blackholes, short writes and corrupted bytes.
//
// # Faults
//
// A Fault is a small value with exported parameters, one type per kind:
// Slow, Latency, Chunk, Stall, Cut, Reset, Blackhole, ShortWrite, Corrupt
// and SlowClose, and Share puts any of them on a share of the connections. Each
// implements Fault's Inject method, which wraps one direction's read or
// write operation (an Op), as toxiproxy's toxics and testing/iotest's
// readers do; users can write their own the same way.
//
// # Direction
//
// Read is the bytes arriving at the wrapped side (its Read calls), Write the
// bytes leaving it (its Write calls). A fault acts on both directions, each
// with its own byte offsets and state, unless restricted with OnRead or
// OnWrite:
//
//	c := faults.Wrap(conn, faults.OnRead(faults.Chunk{Max: 1}), faults.OnWrite(faults.ShortWrite{At: 3}))
//
// A Proxy's Up and Down lists already name the direction: Up acts on the
// bytes the proxy forwards to the upstream, Down on those it forwards back.
//
// # Where faults go
//
// Wrap and WrapSeed apply faults to one connection, WrapListener to the
// accepted connections of a listener (all, or only the k-th), Dialer to
// dialed ones, and Proxy to every connection through a TCP proxy in front
// of any server.
// Recorder logs every Read and Write (offset, bytes asked for, bytes
// returned, error), to prove for instance that a framed reader never asks
// for bytes past the end of its frame.
//
// # Determinism
//
// Every random choice (Chunk's random sizes, jitter, a Share's draw) comes from a
// math/rand/v2 PCG seeded from an explicit seed: the Seed field of Dialer,
// ListenerConfig and Config, or WrapSeed's (Wrap uses 0), mixed with the
// direction and the fault's place in the list, so faults never share a
// source. Every connection uses the same seed, so the same traffic meets
// the same faults whatever order concurrent connections arrive in. Faults
// are placed by byte offset in the stream, and Chunk draws one size per
// piece of the stream, not per call, so how timing split the bytes into
// reads and writes does not move them (Slow's Delay alone counts
// operations). For the same reason Stall's pause is counted from the
// operation it holds back, not from the moment the previous byte passed.
//
// # Realistic failures
//
// Injected failures look like real ones. A timeout is a *net.OpError
// wrapping os.ErrDeadlineExceeded; faults that sleep or block (Slow, Stall,
// Blackhole) honour the deadlines set on the wrapped connection and wake at
// once on Close. Reset really sends a TCP RST (SetLinger(0)). Cut closes
// with FIN, after which reads give io.EOF.
//
// # Live changes
//
// A Proxy's faults can change while it runs (Proxy.SetFaults, NewAPI,
// a Hub's toxics), and a change reaches every open connection, not only
// new ones: each side takes up the new list at its next write. A fault
// sleeping then (Slow, Latency, Stall, SlowClose) wakes at once, and the
// bytes it held go on without the rest of the wait. Every fault of the new
// list then starts afresh, except that byte offsets still count from the
// connection's start: a Cut, Reset or Blackhole whose offset has passed
// acts at the next byte, and a Stall, Corrupt or ShortWrite whose offset
// has passed does nothing (it may have acted already). A Config with Fixed
// set refuses changes, which lets links without faults use the faster
// relay (see Proxy).
//
// # Many proxies: toxiproxy's API
//
// A Hub holds named proxies created, changed and removed at run time, with
// toxiproxy's toxics (type, stream, toxicity, attributes) mapped onto
// these faults (ToxicTypes), and NewToxiproxyAPI serves it over
// toxiproxy's v2 HTTP API, so that toxiproxy-cli and toxiproxy's client
// libraries drive it unchanged. Share applies a fault to a seeded share of
// a proxy's connections, as toxicity does.
//
// # Specs and the API
//
// ParseSpec reads faults from strings such as "chunk=1..8,delay=1ms" or
// "cut=100", and each fault's String gives its spec back. ParseProxySpec
// reads a Proxy's Up or Down list, which takes no read: or write: prefix.
// NewAPI serves a Proxy's faults as JSON so a running proxy can be changed
// from outside.
//
// faults imports the standard library only (and internal/rawio, its raw
// reads and writes, which does too), and does not log, so it works
// against any TCP client or server, not just poolside's.
package faults
