//go:build !linux

package store

import "os"

// dataSyncFile is the file itself where fdatasync is not available.
type dataSyncFile struct{ *os.File }
