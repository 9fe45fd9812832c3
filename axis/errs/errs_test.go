package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeOfAndBody(t *testing.T) {
	cause := errors.New("disk full: /var/lib/axis")
	err := fmt.Errorf("accept: %w", Wrap(Unavailable, cause, "store cannot write"))
	if got := CodeOf(err); got != Unavailable {
		t.Fatalf("CodeOf = %q", got)
	}
	if !CodeOf(err).Transient() || InvalidEnvelope.Transient() {
		t.Fatal("transient classification wrong")
	}
	b := ToBody(err)
	if b.Error.Code != "unavailable" || b.Error.Message != "store cannot write" {
		t.Fatalf("body leaks or mangles: %+v", b)
	}
	if ToBody(cause).Error.Code != "internal" || ToBody(cause).Error.Message != "internal error" {
		t.Fatal("plain errors must not leak")
	}
	f := Field(InvalidEnvelope, "MessageHeader/DocumentId", "missing")
	if f.Message() != "MessageHeader/DocumentId: missing" {
		t.Fatalf("Message = %q", f.Message())
	}
}

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[Code]int{MalformedXML: 400, SenderMismatch: 403, DuplicateDocument: 409,
		TooLarge: 413, UnknownTarget: 422, Unavailable: 503, Code("nope"): 500} {
		if got := code.HTTPStatus(); got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
}
