package loadgen

// The inbox consumer's start and stop under leader changes (from session 10's review).

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

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
	tr := answeredTracker(n, "r1", "r2")
	cons, err := startConsumers(ctx, agency.KafkaConfig{Brokers: cluster.ListenAddrs()}, []string{"r1", "r2"}, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for _, topic := range []string{r1, r2} {
			produceCopy(ctx, t, prod, topic, int32(i%3), i)
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
	waitDelivered(t, tr, n)
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
	tr := answeredTracker(n, "r1")
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
		produceCopy(ctx, t, prod, r1, int32(i%3), i)
	}
	waitDelivered(t, tr, n)
	if err := cons.stop(); err != nil {
		t.Fatal(err)
	}
}
