// Package check checks a Building Services deployment the way Jepsen and
// etcd check theirs: it records every client operation of a run, with its
// call and return times on one monotonic clock, as a history, and asks
// porcupine's linearizability checker whether some order of the
// operations, each taking effect at one instant between its call and its
// return, explains every answer under the booking rules.
//
// Operations are classified the Jepsen way (see Status): OK, the answer
// says what happened; Fail, certainly no effect (busy, not saved, never
// sent); Info, in doubt (the request went out and no answer came, or the
// server said "in doubt"), which may take effect at any time after its
// call, or never. The model is one date's set of booked rooms (at most 5,
// no room twice; UNBOOK of what is there; BOOKINGSONDATE must equal the
// set), and the history is partitioned by date, since dates are
// independent. BOOKINGSFORROOM spans dates, so it is not put in the
// search: the settling reads at the end of a run (Final) ask it of every
// room and compare it with the settled BOOKINGSONDATE answers, a check of
// the settled state rather than of every instant.
//
// Run drives a seeded Workload against one or more servers and returns
// its history; Check checks it and tallies it (acknowledged, lost,
// unexpected, duplicated, recovered in doubt, over the limit), and
// Result.WriteHTML draws porcupine's timeline. poolside check is the
// command around them.
//
// A Deployment starts the servers itself, each behind a fault proxy, and a
// Nemesis runs a seeded schedule of faults on them while the workload
// runs (SIGKILL and restart, SIGSTOP and SIGCONT, cut links, resets and
// stalls of new connections), each an annotation on the timeline.
//
// It imports client, booking (for the texts of its replies), faults,
// wire, the standard library and porcupine.
package check
