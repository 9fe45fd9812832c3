package store

import (
	"context"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMapped drops the store file's pages from this process's resident set. bbolt
// reads through a shared read-only mapping of the whole file, so every page ever read
// stays counted in the process's RSS (measured: 3 KB per package, 600 MB after 200,000
// packages, against a flat ~70 MB of heap). The pages stay in the kernel's page cache:
// the next read maps them again with a minor fault, no disk access. It runs inside a read
// transaction, which holds bbolt's mapping in place (a remap waits for it).
func (s *Store) ReleaseMapped(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		size := uintptr(tx.Size())
		if size == 0 {
			return nil
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data, size, syscall.MADV_DONTNEED); e != 0 {
			return e
		}
		return nil
	})
}
