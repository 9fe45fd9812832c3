package kafkabus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"axis/axis/bus"
)

// Calls of several record batches per partition over 3 leaders, with leader elections
// and produce faults (some rejected, some appended and still failed) between and during
// them: every message is in its partition, and the last copies keep the calls' order.
func TestPublishStressOrderUnderFaults(t *testing.T) {
	c := newCluster(t, 3)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 3
	cfg.MaxMessageBytes = 4 << 10 // batches of at most 68 KiB: ~60 messages of 1 KiB
	cfg.PublishTimeout = 30 * time.Second
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.EnsureTopics(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	codes := []*kerr.Error{kerr.NotLeaderForPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut}
	rng := rand.New(rand.NewPCG(1, 2))
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped) // elections during the calls too
		for {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
				c.ShufflePartitionLeaders()
			}
		}
	}()
	const calls, per = 12, 400
	next := 0
	for call := range calls {
		if call%3 == 1 {
			c.ShufflePartitionLeaders()
		}
		for range 2 {
			p := int32(rng.IntN(3))
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "audit", Partitions: []int32{p},
				Err: codes[rng.IntN(len(codes))], Count: 1 + rng.IntN(2)})
		}
		var msgs []bus.Message
		for range per {
			msgs = append(msgs, bus.Message{Topic: "audit", Key: []byte(strconv.Itoa(next)),
				Value: []byte(fmt.Sprintf("%06d", next) + strings.Repeat(".", 1<<10))})
			next++
		}
		if err := b.Publish(ctx, msgs...); err != nil {
			close(stop)
			t.Fatalf("call %d: %v", call, err)
		}
	}
	close(stop)
	<-stopped
	total, dups := 0, 0
	for p := range 3 {
		got := readAll(t, cfg.Brokers, "audit", p)
		last := map[int]int{} // message -> position of its last copy
		for pos, m := range got {
			i, _ := strconv.Atoi(string(m.Value[:6]))
			if _, ok := last[i]; ok {
				dups++
			}
			last[i] = pos
		}
		total += len(last)
		prev := -1
		for pos, m := range got {
			i, _ := strconv.Atoi(string(m.Value[:6]))
			if last[i] != pos {
				continue
			}
			if i < prev {
				t.Fatalf("partition %d: last copy of %d after last copy of %d", p, i, prev)
			}
			prev = i
		}
	}
	if total != next {
		t.Fatalf("%d distinct messages in the topic, want %d", total, next)
	}
	t.Logf("%d messages, %d duplicate copies", next, dups)
}
