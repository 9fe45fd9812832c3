package agency

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"axis/axis/bus"
)

// discard is a Publisher that keeps nothing (the broker is not what is measured).
type discard struct{}

func (discard) Publish(context.Context, ...bus.Message) error { return nil }

// BenchmarkInboxHandle is one delivered package end to end on the agency side: sha
// check, full verification (at the axis-accepted-at time, as delivered), atomic write
// with fsync, signing and keeping the 01 answer.
// Each iteration is a new package (distinct bytes), so nothing is deduplicated.
func BenchmarkInboxHandle(b *testing.B) {
	f := testFixture(b)
	raw := mustReadB(b, "../../testdata/demo/decree.edxml")
	msgs := make([]bus.Message, 64)
	for i := range msgs {
		v := append([]byte(nil), raw...)
		v = append(v[:len(v)-len("</edXML>\n")], []byte(fmt.Sprintf("<!-- %d --></edXML>\n", i))...)
		signed, err := f.signers[sender].SignBytes(v)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = acceptedAt(delivery(signed, "edoc"), time.Now()) // as the axis delivers: verified at that time
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(msgs) == 0 {
			b.StopTimer()
			in, err := NewInbox(Config{Agency: recipient, Dir: b.TempDir(), Verifier: f.verifier, Signer: f.signers[recipient], Publisher: discard{}})
			if err != nil {
				b.Fatal(err)
			}
			benchInbox = in
			b.StartTimer()
		}
		if err := benchInbox.Handle(context.Background(), msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
	if c := benchInbox.Counts(); c.Refused != 0 {
		b.Fatalf("refused %d", c.Refused)
	}
}

var benchInbox *Inbox

func mustReadB(b *testing.B, p string) []byte {
	v, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	return v
}
