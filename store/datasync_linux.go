package store

import (
	"os"
	"syscall"
)

// dataSyncFile syncs with fdatasync: the blob log's appends land in initialised blocks,
// so only the data needs flushing, not the inode's times.
type dataSyncFile struct{ *os.File }

func (f dataSyncFile) Sync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
