package store

import (
	"context"
	"fmt"
	"os"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMapped drops the store file's pages in [from, from+n) from this process's
// resident set and returns where the next call should start (0 after the end), so that a
// caller can walk the file a slice at a time: dropping all of it at once made every hot
// page fault back in together (measured: p99 latency ×4 at 500 packages/s).
//
// bbolt reads through a shared read-only mapping of the whole file, so every page ever
// read stays counted in the process's RSS (measured: 3 KB per package, 600 MB after
// 200,000 packages, against a flat ~70 MB of heap). The pages stay in the kernel's page
// cache: the next read maps them again with a minor fault, no disk access. It runs inside
// a read transaction, which holds bbolt's mapping in place (a remap waits for it).
func (s *Store) ReleaseMapped(ctx context.Context, from, n int64) (next int64, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		size := tx.Size()
		// madvise wants the start aligned to the system's page, which may be larger than
		// bbolt's (a store created elsewhere with 4 KiB pages on a 16 or 64 KiB system).
		page := max(int64(tx.DB().Info().PageSize), int64(os.Getpagesize()))
		from -= from % page
		if from >= size {
			from = 0
		}
		end := min(from+n, size)
		if end <= from {
			return nil
		}
		next = end % size
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data+uintptr(from), uintptr(end-from), syscall.MADV_DONTNEED); e != 0 {
			return e
		}
		return nil
	})
	return next, err
}

// MappedSize is the part of the store file bbolt uses.
func (s *Store) MappedSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}

// ResidentFileBytes is how much of this process's resident set is mapped files (the
// store's pages, the executable's), from /proc/self/statm.
func ResidentFileBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, resident, shared int64
	if _, err := fmt.Sscan(string(b), &size, &resident, &shared); err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return shared * int64(os.Getpagesize()), nil
}
