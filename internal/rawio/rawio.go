// Package rawio makes the small reads and writes on the path of a load
// generator's request without waking the Go runtime's monitor thread.
//
// Between two requests of a lightly loaded client every P is idle, and
// the runtime's monitor thread (sysmon) goes into a deep sleep; the next
// system call made through package syscall wakes it (entersyscall), on
// another CPU, and it polls for a while before it sleeps again. With one
// client that is every request: on this project's 2-core VM it cost the
// load generator about 35 µs of CPU per request (50 µs in all, against
// 15 µs without it) and slowed its turnaround, so that poolside bench
// under-reported a server at low concurrency next to a C client such as
// pgbench. The reads and writes here are non-blocking (a socket in Go's
// netpoller, which waits for readiness; a few bytes appended to a file in
// the page cache), so they may go through syscall.RawSyscall, which does
// no such bookkeeping, and the runtime's monitor stays asleep.
//
// Elsewhere than Linux, Conn and Append fall back to the ordinary calls.
package rawio
