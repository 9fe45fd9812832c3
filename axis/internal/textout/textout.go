// Package textout holds the small helpers of the human-readable reports (`axis track`,
// `axis audit replay`).
package textout

import (
	"fmt"
	"io"
)

// Writer prints until the first write error, which Err then returns: a report is a run of
// Printf calls checked once.
type Writer struct {
	w   io.Writer
	err error
}

// New returns a Writer on w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Printf writes unless an earlier write failed.
func (e *Writer) Printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Err is the first write error.
func (e *Writer) Err() error { return e.err }

// OrDash is s, or "-" when empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Short is the first 12 characters of a hash followed by mark ("" or "…"), or "-".
func Short(sum, mark string) string {
	if len(sum) > 12 {
		return sum[:12] + mark
	}
	return OrDash(sum)
}
