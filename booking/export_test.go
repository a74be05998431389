package booking

// SetBatchOnly makes s send every write through bbolt's Batch, even when no
// other write is in progress, so benchmarks can compare it with the
// lone-writer fast path. Call it before using s.
func SetBatchOnly(s *BoltStore, on bool) { s.batchOnly = on }
