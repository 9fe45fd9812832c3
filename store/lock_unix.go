//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFileName is the lock the store holds on its data directory for as long as it is
// open (exclusive to write, shared to read), before it touches any file: recovery writes
// into bbolt's file before bbolt opens it.
const LockFileName = "axis.lock"

var errLocked = errors.New("locked")

func lockDir(dir string, shared bool, timeout time.Duration) (*os.File, error) {
	flag := os.O_RDWR | os.O_CREATE
	if shared {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFileName), flag, 0o600)
	if shared && errors.Is(err, os.ErrNotExist) {
		return nil, nil // a store older than the lock file, or a read-only directory
	}
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, err
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, errLocked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func unlock(f *os.File) {
	if f != nil {
		f.Close() // closing drops the flock
	}
}
