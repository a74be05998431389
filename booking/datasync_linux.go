package booking

import (
	"os"
	"syscall"
)

// datasync flushes f's data to the disk, and only the metadata that
// reading it back needs (fdatasync): a journal written in place needs none.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
