//go:build unix

package load

import (
	"errors"
	"os"
	"syscall"
)

// errLocked is returned by lockFile when another process holds the lock.
var errLocked = errors.New("load: the file is locked by another process")

// lockFile takes an exclusive lock on f without waiting (flock), held
// until f is closed or the process ends, however it ends.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
