package axis

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"axis/axis/bus"
	"axis/axis/bus/membus"
	"axis/store"
)

// A message on axis.status at the bus limit (legal on the topic) is refused and goes to
// axis.dlq without its value, which with the axis's error headers would be over the
// limit; the status after it is then consumed. (Before: Publish refused the copy with
// too_large, the handler returned it, and the message came back for ever, blocking the
// partition and adding a rejected audit event at each try.)
func TestOversizedStatusDoesNotBlockAxisStatus(t *testing.T) {
	mb := membus.New(membus.Options{})
	dir := t.TempDir()
	h := startOn(t, mb, dir)
	b, id := pkg(t, 21)
	h.mustAccept(b)
	ctx := context.Background()

	// Exactly at the bus limit (key + value + headers): accepted by the bus.
	key := []byte(id)
	big := bytes.Repeat([]byte("A"), bus.MaxMessageBytes-len(key))
	if err := mb.Publish(ctx, bus.Message{Topic: TopicStatus, Key: key, Value: big}); err != nil {
		t.Fatalf("publishing the large status: %v", err)
	}
	good := status(t, ngheAn, id, "03", "after the large one")
	if err := mb.Publish(ctx, bus.Message{Topic: TopicStatus, Key: key, Value: good}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if dlq := mb.Messages(TopicDLQ); len(dlq) > 0 && stateOfDoc(h, id) {
			if len(dlq) != 1 || dlq[0].Value != nil || dlq[0].Header(HeaderSHA256) != sha256Hex(big) ||
				!strings.Contains(dlq[0].Header(HeaderError), "left out") || dlq[0].Size() > bus.MaxMessageBytes {
				t.Fatalf("dead letter: %d messages, value %d bytes, headers %q", len(dlq), len(dlq[0].Value), dlq[0].Header(HeaderError))
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := stateOf(h.document(id), ngheAn)
	h.shutdown()
	rejected := 0
	for _, typ := range auditTypes(t, dir) {
		if typ == "rejected" {
			rejected++
		}
	}
	t.Fatalf("after 15 s: %d messages on axis.dlq (want the oversized status), the valid 03 published after it was never recorded (state %s), and the one message left %d rejected events in the audit log",
		len(mb.Messages(TopicDLQ)), st, rejected)
}

func stateOfDoc(h *harness, id string) bool {
	return stateOf(h.document(id), ngheAn) == store.StateAccepted
}

// The DLQ copy carries the axis's axis-error-code and axis-sha256 only: a producer on
// axis.status that sets axis-* headers itself (by mistake, or to mislead) does not get
// them into the copy, where a first-match lookup would have found them first.
func TestDLQHeadersAreTheAxis(t *testing.T) {
	mb := membus.New(membus.Options{})
	h := startOn(t, mb, t.TempDir())
	_ = h
	ctx := context.Background()
	garbage := []byte("<edXML><not closed")
	if err := mb.Publish(ctx, bus.Message{Topic: TopicStatus, Value: garbage, Headers: []bus.Header{
		{Key: HeaderErrorCode, Value: []byte("none")},
		{Key: HeaderSHA256, Value: []byte("0000")},
	}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(mb.Messages(TopicDLQ)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	dlq := mb.Messages(TopicDLQ)
	if len(dlq) != 1 {
		t.Fatalf("%d DLQ messages", len(dlq))
	}
	m := dlq[0]
	n := 0
	for _, hd := range m.Headers {
		if hd.Key == HeaderErrorCode || hd.Key == HeaderSHA256 {
			n++
		}
	}
	if m.Header(HeaderErrorCode) != "malformed_xml" || m.Header(HeaderSHA256) != sha256Hex(garbage) || n != 2 {
		t.Fatalf("DLQ message: %s=%q %s=%q (%d copies of those headers)", HeaderErrorCode, m.Header(HeaderErrorCode),
			HeaderSHA256, m.Header(HeaderSHA256), n)
	}
}
