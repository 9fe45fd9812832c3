//go:build unix

package broker

import (
	"os"
	"syscall"

	"axis/axis/errs"
)

// lockDir takes an exclusive lock on the data dir: two brokers appending to the same
// segment files would corrupt them. The lock dies with the process.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(lockPath(dir), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "broker data dir %s", dir)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "broker data dir %s is in use by another broker", dir)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
