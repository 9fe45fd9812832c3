package agency

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/errs"
)

// On the embedded broker: Positions sees a new group, Consume stops once caught up and
// commits, so a second Consume finds nothing and returns without joining the group.
func TestConsumeOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	f := testFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	br, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	kc := KafkaConfig{Brokers: []string{br.Addr()}}
	kb, err := kc.Bus(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	topic := InboxTopic(recipient)
	if err := kb.EnsureTopics(ctx, topic, TopicStatus); err != nil {
		t.Fatal(err)
	}
	pos, err := kc.Offsets()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pos.Positions(ctx, "axis.inbox.nobody", recipient); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing topic: %v", err)
	}
	p, err := pos.Positions(ctx, topic, recipient)
	if err != nil || len(p) != 1 || p[0].End != 0 || p[0].Committed != -1 {
		t.Fatalf("empty topic, new group: %+v %v", p, err)
	}
	if err := kb.Publish(ctx, delivery(f.decree, "edoc"), delivery(f.decree, "edoc")); err != nil {
		t.Fatal(err)
	}
	in, events, dir := newTestInbox(t, recipient, kb)
	opts := ConsumeOptions{Topic: topic, Group: recipient, Positions: pos}
	if err := Consume(ctx, kb, in.Handle, opts); err != nil {
		t.Fatal(err)
	}
	if len(*events) != 2 || (*events)[0].Kind != Arrived || (*events)[1].Kind != Duplicate {
		t.Fatalf("events %+v", *events)
	}
	if p, _ := pos.Positions(ctx, topic, recipient); p[0].Committed != 2 || p[0].End != 2 {
		t.Fatalf("after consuming: %+v", p)
	}
	if err := Consume(ctx, kb, in.Handle, opts); err != nil || len(*events) != 2 {
		t.Fatalf("second run: %v, %d events", err, len(*events))
	}
	if _, err := os.Stat(filepath.Join(dir, PackageFile(docID, hexSHA(f.decree)))); err != nil {
		t.Fatal(err)
	}
	// The answers reached axis.status: two identical publications of one signed 01.
	sp, _ := pos.Positions(ctx, TopicStatus, "nobody")
	if sp[0].End != 2 {
		t.Fatalf("axis.status holds %d messages", sp[0].End)
	}
	var _ bus.Bus = kb
}
