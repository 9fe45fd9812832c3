//go:build !linux

package store

import "context"

// ReleaseMapped is a no-op where madvise is not used.
func (s *Store) ReleaseMapped(ctx context.Context, from, n int64) (int64, error) { return 0, nil }

// MappedSize is 0 where ReleaseMapped is a no-op.
func (s *Store) MappedSize(ctx context.Context) (int64, error) { return 0, nil }

// ResidentFileBytes is 0 where ReleaseMapped is a no-op.
func ResidentFileBytes() (int64, error) { return 0, nil }
