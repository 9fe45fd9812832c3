//go:build !unix

package broker

// lockDir does nothing where flock is missing; do not share a data dir there.
func lockDir(string) (func(), error) { return func() {}, nil }
