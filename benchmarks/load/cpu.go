package load

import "time"

// CPUSnapshot is the machine's CPU time and this process's at one moment,
// to tell how much of the machine other processes used in between (see
// OtherProcesses). The zero value holds nothing.
type CPUSnapshot struct {
	busy, total time.Duration // every core, from /proc/stat
	own         time.Duration // this process, user + system
	ok          bool
}

// TakeCPUSnapshot reads the machine's CPU time (Linux only: elsewhere the
// snapshot holds nothing) and this process's.
func TakeCPUSnapshot() CPUSnapshot {
	busy, total, ok := machineCPU()
	u, s, ok2 := cpuTimes()
	return CPUSnapshot{busy: busy, total: total, own: u + s, ok: ok && ok2}
}

// OtherProcesses returns the share of the machine's CPU time between s
// and later that processes other than this one used, from 0 to 1; 0 if
// either snapshot holds nothing.
func (s CPUSnapshot) OtherProcesses(later CPUSnapshot) float64 {
	total := later.total - s.total
	if !s.ok || !later.ok || total <= 0 {
		return 0
	}
	busy := (later.busy - s.busy).Seconds()
	own := (later.own - s.own).Seconds()
	return min(1, max(0, (busy-own)/total.Seconds()))
}
