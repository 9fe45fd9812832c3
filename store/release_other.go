//go:build !linux

package store

import "context"

// ReleaseMapped is a no-op where madvise is not used.
func (s *Store) ReleaseMapped(ctx context.Context) error { return nil }
