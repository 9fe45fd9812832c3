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
	// The answer reached axis.status, once: the redelivery found it done.
	sp, _ := pos.Positions(ctx, TopicStatus, "nobody")
	if sp[0].End != 1 {
		t.Fatalf("axis.status holds %d messages", sp[0].End)
	}
	var _ bus.Bus = kb
}

// The requests the inbox makes outside kafkabus (offsets) and the replay's dialer use the
// same SASL settings: they work with the right password and fail with a wrong one.
func TestKafkaSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	br, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", NoSync: true, Users: []broker.User{
		{Mechanism: broker.Plain, Name: "alice", Password: "p1"},
		{Mechanism: broker.ScramSHA512, Name: "carol", Password: "p2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	for _, tc := range []struct{ mech, user, pass string }{{"plain", "alice", "p1"}, {"SCRAM-SHA-512", "carol", "p2"}} {
		t.Run(tc.mech, func(t *testing.T) {
			kc := KafkaConfig{Brokers: []string{br.Addr()}, SASLMechanism: tc.mech, Username: tc.user, Password: tc.pass}
			kb, err := kc.Bus(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer kb.Close()
			if err := kb.EnsureTopics(ctx, "axis.inbox.x"); err != nil {
				t.Fatal(err)
			}
			pos, _ := kc.Offsets()
			if p, err := pos.Positions(ctx, "axis.inbox.x", "x"); err != nil || len(p) != 1 {
				t.Fatalf("%+v %v", p, err)
			}
			d, err := kc.Dialer()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.DialLeader(ctx, "tcp", br.Addr(), "axis.inbox.x", 0)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			kc.Password = "wrong"
			pos, _ = kc.Offsets()
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			if _, err := pos.Positions(sctx, "axis.inbox.x", "x"); err == nil {
				t.Fatal("a wrong password must be refused")
			}
		})
	}
	if _, err := (KafkaConfig{Brokers: []string{br.Addr()}, SASLMechanism: "gssapi"}).Offsets(); !errs.Is(err, errs.BadRequest) {
		t.Fatalf("unknown mechanism: %v", err)
	}
	if _, err := (KafkaConfig{Brokers: []string{br.Addr()}, TLSCAFile: "/nonexistent"}).Dialer(); !errs.Is(err, errs.BadRequest) {
		t.Fatalf("missing CA: %v", err)
	}
}
