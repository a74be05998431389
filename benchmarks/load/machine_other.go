//go:build !linux

package load

import "time"

// machineCPU reports nothing where /proc/stat does not exist.
func machineCPU() (busy, total time.Duration, ok bool) { return 0, 0, false }
