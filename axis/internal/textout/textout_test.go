package textout

import (
	"errors"
	"strings"
	"testing"
)

type failAfter struct {
	n int
	b strings.Builder
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return f.b.Write(p)
}

func TestWriterStopsAtFirstError(t *testing.T) {
	f := &failAfter{n: 1}
	w := New(f)
	w.Printf("a%d", 1)
	w.Printf("b")
	w.Printf("c")
	if f.b.String() != "a1" || w.Err() == nil || w.Err().Error() != "disk full" {
		t.Fatalf("wrote %q, err %v", f.b.String(), w.Err())
	}
}

func TestShortAndOrDash(t *testing.T) {
	for _, c := range []struct{ in, mark, want string }{
		{"", "…", "-"},
		{"abc", "…", "abc"},
		{"0123456789abcdef", "…", "0123456789ab…"},
		{"0123456789abcdef", "", "0123456789ab"},
	} {
		if got := Short(c.in, c.mark); got != c.want {
			t.Errorf("Short(%q, %q) = %q, want %q", c.in, c.mark, got, c.want)
		}
	}
}
