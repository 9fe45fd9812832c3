//go:build !unix

package store

import (
	"errors"
	"os"
	"time"
)

// LockFileName is the store's lock file (not used where flock is not available: bbolt's
// own lock is the only one there).
const LockFileName = "axis.lock"

var errLocked = errors.New("locked")

func lockDir(string, bool, time.Duration) (*os.File, error) { return nil, nil }

func unlock(f *os.File) {}
