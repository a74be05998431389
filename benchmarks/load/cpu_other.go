//go:build !unix

package load

import "time"

// cpuTimes reports no CPU times where getrusage does not exist.
func cpuTimes() (user, system time.Duration, ok bool) { return 0, 0, false }
