package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
)

// inboxCluster starts a kfake cluster of n brokers holding the given topics, 3 partitions
// each; spread puts partition p's leader on broker p.
func inboxCluster(t *testing.T, n int, spread bool, topics ...string) *kfake.Cluster {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(n), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	for _, topic := range topics {
		for p := range int32(3) {
			if !spread {
				break
			}
			if err := cluster.MoveTopicPartition(topic, p, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cluster
}

// producer is a client that writes to the partition each record names.
func producer(t *testing.T, seeds ...string) *kgo.Client {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return prod
}

// answeredTracker tracks n packages (sha256 s0, s1, …) to the recipients, each submitted
// and accepted, with none delivered yet.
func answeredTracker(n int, to ...string) *tracker {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{DocumentID: fmt.Sprint(i), SHA256: fmt.Sprintf("s%d", i), To: to}
	}
	tr := newTracker(items)
	for i := range items {
		tr.submitted(i, time.Now())
		tr.answered(i, true, time.Now())
	}
	return tr
}

// produceCopy writes a copy of package i of answeredTracker to topic's partition.
func produceCopy(ctx context.Context, t *testing.T, prod *kgo.Client, topic string, partition int32, i int) {
	t.Helper()
	rec := &kgo.Record{Topic: topic, Partition: partition, Value: []byte("<edXML/>"), Timestamp: time.Now(),
		Headers: []kgo.RecordHeader{{Key: axis.HeaderSHA256, Value: []byte(fmt.Sprintf("s%d", i))}}}
	if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitDelivered waits (20 s at most) until want packages reached all their recipients.
func waitDelivered(t *testing.T, tr *tracker, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tr.mu.Lock()
		n := tr.delivered
		tr.mu.Unlock()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d after 20 s, want %d", n, want)
		}
	}
}

// The inbox consumer reads every partition of every recipient's inbox from where it
// ended at start: copies published before are not this run's, copies without the
// digest header are not the axis's, and a copy that never comes stays missing (lost).
func TestConsumersReadFromTheEnd(t *testing.T) {
	r1, r2 := axis.InboxTopic("r1"), axis.InboxTopic("r2")
	cluster := inboxCluster(t, 1, false, r1, r2)
	prod := producer(t, cluster.ListenAddrs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(topic string, partition int32, sha string) {
		t.Helper()
		rec := &kgo.Record{Topic: topic, Partition: partition, Value: []byte("<edXML/>"), Timestamp: time.Now()}
		if sha != "" {
			rec.Headers = []kgo.RecordHeader{{Key: "other", Value: []byte("x")}, {Key: axis.HeaderSHA256, Value: []byte(sha)}}
		}
		if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	items := []Item{
		{DocumentID: "a", SHA256: "sa", To: []string{"r1", "r2"}},
		{DocumentID: "b", SHA256: "sb", To: []string{"r2"}},
		{DocumentID: "c", SHA256: "sc", To: []string{"r1"}}, // never delivered: lost
	}
	tr := newTracker(items)
	for i := range items {
		tr.submitted(i, time.Now())
		tr.answered(i, true, time.Now())
	}
	publish(r1, 0, "sc") // before the run: must not count for c
	publish(r2, 2, "sb")

	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1", "r2"}, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	publish(r1, 1, "sa")
	publish(r2, 0, "")   // no digest: ignored
	publish(r2, 2, "sa") // a complete
	publish(r1, 2, "sa") // duplicate copy
	publish(r2, 1, "sb") // b complete
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tr.mu.Lock()
		n, dups := tr.delivered, tr.dups
		tr.mu.Unlock()
		if n == 2 && dups == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d duplicates %d after 20 s, want 2 and 1", n, dups)
		}
	}
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
	got := tr.tally()
	if got.accepted != 3 || got.delivered != 2 || got.lost != 1 || got.dups != 1 || len(got.latencies) != 2 {
		t.Fatalf("tally %+v, want 3 accepted, 2 delivered, 1 lost (c: its copy predates the run), 1 duplicate", got)
	}
	for i, p := range got.published {
		if p < 0 || p > got.latencies[i] {
			t.Fatalf("published %v not within latency %v", p, got.latencies[i])
		}
	}
}

func TestConsumersRefuseBadKafkaConfig(t *testing.T) {
	tr := newTracker(nil)
	for _, kc := range []agency.KafkaConfig{
		{},
		{Brokers: []string{"127.0.0.1:1"}, SASLMechanism: "kerberos"},
		{Brokers: []string{"127.0.0.1:1"}, TLSCAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := startConsumers(context.Background(), kc, []string{"r1"}, tr, zap.NewNop()); err == nil {
			t.Errorf("%+v: no error", kc)
		}
	}
}

// Partitions led by different brokers are all read (one fetch per leader), also after a
// partition's leader moved during the run.
func TestConsumersFollowLeaders(t *testing.T) {
	r1, r2 := axis.InboxTopic("r1"), axis.InboxTopic("r2")
	cluster := inboxCluster(t, 3, true, r1, r2)
	prod := producer(t, cluster.ListenAddrs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr := answeredTracker(12, "r1", "r2")
	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1", "r2"}, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			for _, topic := range []string{r1, r2} {
				produceCopy(ctx, t, prod, topic, int32(i%3), i)
			}
		}
	}
	publish(0, 6)
	waitDelivered(t, tr, 6)
	if err := cluster.MoveTopicPartition(r2, 1, 2); err != nil { // now with r2/2
		t.Fatal(err)
	}
	publish(6, 12)
	waitDelivered(t, tr, 12)
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
	if got := tr.tally(); got.lost != 0 || got.dups != 0 {
		t.Fatalf("tally %+v, want nothing lost or duplicated", got)
	}
}
