package loadgen

// The inbox consumer's start and stop under leader changes (from session 10's review).

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
)

func kafkaGoroutines() (loops, pools int) {
	buf := make([]byte, 1<<20)
	s := string(buf[:runtime.Stack(buf, true)])
	return strings.Count(s, "loadgen.(*consumers).loop"), strings.Count(s, "kafka-go.(*connPool).discover")
}

// After stop, nothing of the consumer runs: no fetch loop (also after leaders moved
// and loops split) and no kafka-go transport, the one that read the start offsets
// (agency.KafkaConfig.Offsets) included.
func TestConsumersStopLeavesNothing(t *testing.T) {
	r1 := axis.InboxTopic("r1")
	cluster := inboxCluster(t, 3, true, r1)
	_, before := kafkaGoroutines()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1"}, newTracker(nil), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // loops split per leader
	if loops, _ := kafkaGoroutines(); loops != 3 {
		t.Errorf("%d fetch loops for 3 leaders, want 3", loops)
	}
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	loops, pools := kafkaGoroutines()
	if loops != 0 || pools-before != 0 {
		t.Fatalf("after stop: %d fetch loops, %d kafka-go transport pools still running; want 0 and 0", loops, pools-before)
	}
}

// Leaders move back and forth while copies arrive: every copy is read once, and the
// fetch loops stay bounded by the partitions.
func TestConsumersLeaderChurn(t *testing.T) {
	r1, r2 := axis.InboxTopic("r1"), axis.InboxTopic("r2")
	cluster := inboxCluster(t, 3, false, r1, r2)
	prod := producer(t, cluster.ListenAddrs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 60
	var items []Item
	for i := range n {
		items = append(items, Item{DocumentID: fmt.Sprint(i), SHA256: fmt.Sprintf("s%d", i), To: []string{"r1", "r2"}})
	}
	tr := newTracker(items)
	for i := range items {
		tr.submitted(i, time.Now())
		tr.answered(i, true, time.Now())
	}
	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1", "r2"}, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for _, topic := range []string{r1, r2} {
			rec := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte("x"), Timestamp: time.Now(),
				Headers: []kgo.RecordHeader{{Key: axis.HeaderSHA256, Value: []byte(items[i].SHA256)}}}
			if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			topic := []string{r1, r2}[i%2]
			p := int32(i % 3)
			if err := cluster.MoveTopicPartition(topic, p, (cluster.LeaderFor(topic, p)+1)%3); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tr.mu.Lock()
		got := tr.delivered
		tr.mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d", got, n)
		}
	}
	if loops, _ := kafkaGoroutines(); loops > 6 {
		t.Errorf("%d fetch loops for 6 partitions", loops)
	} else {
		t.Logf("%d fetch loops for 6 partitions on 3 brokers", loops)
	}
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
	if got := tr.tally(); got.lost != 0 || got.dups != 0 {
		t.Fatalf("tally %+v", got)
	}
}

// A broker leaves the cluster mid-run (its partitions get new leaders): every copy is
// still read (the loops stay bounded by the partitions).
func TestConsumersBrokerRemoved(t *testing.T) {
	r1 := axis.InboxTopic("r1")
	cluster := inboxCluster(t, 3, true, r1)
	prod := producer(t, cluster.ListenAddrs()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 30
	var items []Item
	for i := range n {
		items = append(items, Item{DocumentID: fmt.Sprint(i), SHA256: fmt.Sprintf("s%d", i), To: []string{"r1"}})
	}
	tr := newTracker(items)
	for i := range items {
		tr.submitted(i, time.Now())
		tr.answered(i, true, time.Now())
	}
	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1"}, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if i == n/2 {
			if err := cluster.RemoveNode(2); err != nil {
				t.Fatal(err)
			}
		}
		rec := &kgo.Record{Topic: r1, Partition: int32(i % 3), Value: []byte("x"), Timestamp: time.Now(),
			Headers: []kgo.RecordHeader{{Key: axis.HeaderSHA256, Value: []byte(items[i].SHA256)}}}
		if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tr.mu.Lock()
		got := tr.delivered
		tr.mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d", got, n)
		}
	}
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
}
