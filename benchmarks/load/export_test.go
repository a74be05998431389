package load

import "github.com/poolside-dev/poolside/wire"

// Candidates exposes candidates to the tests: the rooms the workload books
// on date, in order.
func Candidates(date wire.Date) []string { return candidates(date) }
