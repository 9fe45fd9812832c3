package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"axis/axis/bus"
	"axis/axis/errs"
)

// newCluster starts a kfake cluster of n brokers on free ports.
func newCluster(t *testing.T, n int) *kfake.Cluster {
	t.Helper()
	ports := make([]int, n)
	c, err := kfake.NewCluster(kfake.NumBrokers(n), kfake.Ports(ports...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// produced records what a cluster was asked to append: per topic-partition, the size
// of each record batch in arrival order.
type produced struct {
	mu       sync.Mutex
	requests int
	batches  map[string][]int
	oversize []string // requests of several batches over limit bytes in all
	limit    int
}

func observeProduce(c *kfake.Cluster) *produced {
	p := &produced{batches: map[string][]int{}}
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.requests++
		total, n := 0, 0
		for _, t := range r.(*kmsg.ProduceRequest).Topics {
			for _, pt := range t.Partitions {
				k := fmt.Sprintf("%s/%d", t.Topic, pt.Partition)
				p.batches[k] = append(p.batches[k], len(pt.Records))
				total += len(pt.Records)
				n++
			}
		}
		if p.limit > 0 && n > 1 && total > p.limit {
			p.oversize = append(p.oversize, fmt.Sprintf("%d batches, %d bytes", n, total))
		}
		return nil, nil, false // observe only: the cluster handles it
	})
	return p
}

func (p *produced) snapshot() (int, map[string][]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string][]int{}
	for k, v := range p.batches {
		m[k] = append([]int(nil), v...)
	}
	return p.requests, m
}

// readAll returns every record of a partition, in offset order.
func readAll(t *testing.T, addr []string, topic string, partition int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(addr...)}
	var out []kafka.Message
	for offset := int64(0); ; {
		resp, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
			MinBytes: 1, MaxBytes: 64 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
		}
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, partition, err)
			}
			if r.Offset < offset {
				continue
			}
			m := kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset}
			if r.Key != nil {
				m.Key, _ = io.ReadAll(r.Key)
			}
			if r.Value != nil {
				m.Value, _ = io.ReadAll(r.Value)
			}
			out = append(out, m)
			offset = r.Offset + 1
		}
		if offset >= resp.HighWatermark {
			return out
		}
	}
}

// spreadLeaders puts partition p of each topic on broker p modulo the cluster's size,
// then waits two metadata refreshes for the client to see it.
func spreadLeaders(t *testing.T, c *kfake.Cluster, metadataTTL time.Duration, partitions int32, topics ...string) {
	t.Helper()
	n := int32(len(c.ListenAddrs()))
	for _, topic := range topics {
		for p := range partitions {
			if err := c.MoveTopicPartition(topic, p, p%n); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(2 * metadataTTL)
}

// A call's messages for partitions led by different brokers reach each leader, in each
// partition the one murmur2 names (as the Java client would), in the call's order.
func TestPublishAcrossLeaders(t *testing.T) {
	c := newCluster(t, 3)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 6
	b := newBus(t, cfg)
	ctx := context.Background()
	topics := []string{"inbox.a", "inbox.b", "inbox.c"}
	if err := b.EnsureTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	spreadLeaders(t, c, cfg.MetadataTTL, 6, topics...)
	obs := observeProduce(c)
	var msgs []bus.Message
	for i := range 300 {
		key := fmt.Sprintf("DOC-%d", i%40)
		msgs = append(msgs, bus.Message{Topic: topics[i%3], Key: []byte(key), Value: []byte(strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if n, _ := obs.snapshot(); n != 3 {
		t.Errorf("%d produce requests for one call over 3 leaders, want 3 (one per leader)", n)
	}
	var bal kafka.Murmur2Balancer
	for _, topic := range topics {
		got := 0
		for p := range 6 {
			last := -1
			for _, m := range readAll(t, cfg.Brokers, topic, p) {
				got++
				i, _ := strconv.Atoi(string(m.Value))
				if want := bal.Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3, 4, 5); p != want {
					t.Errorf("%s: key %s in partition %d, murmur2 says %d", topic, m.Key, p, want)
				}
				if msgs[i].Topic != topic || i <= last {
					t.Errorf("%s/%d: message %d after %d (wrong topic or out of order)", topic, p, i, last)
				}
				last = i
			}
		}
		if got != 100 {
			t.Errorf("%s holds %d messages, want 100 (each exactly once)", topic, got)
		}
	}
}

// A partition's messages beyond one record batch go in later requests, each batch
// within the limit, and keep their order; a request holds several batches only within
// the limit.
func TestPublishSplitsBatches(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.MaxMessageBytes = 100 << 10 // batches of at most 164 KiB
	b := newBus(t, cfg)
	ctx := context.Background()
	if err := b.EnsureTopics(ctx, "big", "big2", "small"); err != nil {
		t.Fatal(err)
	}
	obs := observeProduce(c)
	obs.limit = cfg.MaxMessageBytes + 64<<10
	var msgs []bus.Message
	for i := range 20 { // 20 × 60 KiB to two partitions each, plus small ones to another topic
		v := fmt.Sprintf("%04d", i) + strings.Repeat("x", 60<<10)
		msgs = append(msgs, bus.Message{Topic: "big", Key: []byte("k"), Value: []byte(v)},
			bus.Message{Topic: "big2", Key: []byte("k"), Value: []byte(v)},
			bus.Message{Topic: "small", Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	n, batches := obs.snapshot()
	big, big2 := batches["big/0"], batches["big2/0"]
	if len(big) < 8 || len(big2) != len(big) || n != len(big)+len(big2) {
		t.Errorf("%d requests, batches of big/0: %v, of big2/0: %v; want ≥ 8 batches each, one per request", n, big, big2)
	}
	for _, sz := range append(big, big2...) {
		if sz > obs.limit {
			t.Errorf("a batch of %d bytes, over the limit of %d", sz, obs.limit)
		}
	}
	if len(obs.oversize) > 0 {
		t.Errorf("requests over the limit: %v", obs.oversize)
	}
	if small := batches["small/0"]; len(small) != 1 {
		t.Errorf("batches of small/0: %v, want one (it rides with the first request)", small)
	}
	for _, topic := range []string{"big", "big2", "small"} {
		got := readAll(t, cfg.Brokers, topic, 0)
		if len(got) != 20 {
			t.Fatalf("%s holds %d messages, want 20", topic, len(got))
		}
		for i, m := range got {
			want := strconv.Itoa(i)
			if topic != "small" {
				want = fmt.Sprintf("%04d", i) + strings.Repeat("x", 60<<10)
			}
			if string(m.Value) != want {
				t.Fatalf("%s offset %d holds %.8q, want message %d", topic, i, m.Value, i)
			}
		}
	}
}

// A partition the broker refuses for good fails the call with its code; the other
// partitions of the call are appended, and the refused partition's later batches are
// not sent (they would land out of order). A refused batch of several messages is split
// first: only a lone message over the limit is refused for good.
func TestPublishPartialRefusal(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.MaxMessageBytes = 100 << 10
	b := newBus(t, cfg)
	ctx := context.Background()
	if err := b.EnsureTopics(ctx, "ok", "strict"); err != nil {
		t.Fatal(err)
	}
	// The operator lowered the limit of one topic below the batches the axis sends.
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	resp, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "strict",
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "50000"}}}}})
	if err != nil || resp.Errors[kafka.AlterConfigsResponseResource{Type: int8(kafka.ResourceTypeTopic), Name: "strict"}] != nil {
		t.Fatalf("alter configs: %v %+v", err, resp)
	}
	obs := observeProduce(c)
	var msgs []bus.Message
	for i := range 6 { // 6 × 60 KiB: three batches of two for "strict", each message too large
		msgs = append(msgs, bus.Message{Topic: "strict", Key: []byte("k"), Value: []byte(strings.Repeat("y", 60<<10))},
			bus.Message{Topic: "ok", Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	err = b.Publish(ctx, msgs...)
	if !errs.Is(err, errs.TooLarge) {
		t.Fatalf("Publish = %v, want %s", err, errs.TooLarge)
	}
	if _, batches := obs.snapshot(); len(batches["strict/0"]) != 2 {
		t.Errorf("batches sent for strict/0: %v, want only the first (refused) and its first half (refused)", batches["strict/0"])
	}
	if got := readAll(t, cfg.Brokers, "ok", 0); len(got) != 6 {
		t.Errorf("ok holds %d messages, want 6", len(got))
	}
	if got := readAll(t, cfg.Brokers, "strict", 0); len(got) != 0 {
		t.Errorf("strict holds %d messages, want 0", len(got))
	}
}

// A leader that moved answers NOT_LEADER for its partition; Publish retries that
// partition once the client's metadata shows the new leader, and every message is
// appended once.
func TestPublishFollowsMovedLeader(t *testing.T) {
	c := newCluster(t, 2)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.Brokers = c.ListenAddrs()
	b := newBus(t, cfg)
	ctx := context.Background()
	if err := b.EnsureTopics(ctx, "moving", "staying"); err != nil {
		t.Fatal(err)
	}
	send := func(from, to int) {
		var msgs []bus.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, bus.Message{Topic: "moving", Key: []byte("k"), Value: []byte(strconv.Itoa(i))},
				bus.Message{Topic: "staying", Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
		}
		if err := b.Publish(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 5) // the client's metadata now names the leaders
	// Both on one broker, then "moving" to the other: the client's cache is stale.
	if err := c.MoveTopicPartition("staying", 0, c.LeaderFor("moving", 0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * cfg.MetadataTTL)
	send(5, 10)
	to := int32(0)
	if c.LeaderFor("moving", 0) == 0 {
		to = 1
	}
	if err := c.MoveTopicPartition("moving", 0, to); err != nil {
		t.Fatal(err)
	}
	obs := observeProduce(c)
	send(10, 20)
	if _, batches := obs.snapshot(); len(batches["moving/0"]) < 2 || len(batches["staying/0"]) != 1 {
		t.Errorf("batches after the move: %v; want moving/0 refused by its old leader, then sent again, and staying/0 once", batches)
	}
	for _, topic := range []string{"moving", "staying"} {
		got := readAll(t, cfg.Brokers, topic, 0)
		if len(got) != 20 {
			t.Fatalf("%s holds %d messages, want 20", topic, len(got))
		}
		for i, m := range got {
			if string(m.Value) != strconv.Itoa(i) {
				t.Fatalf("%s offset %d holds %s, want %d", topic, i, m.Value, i)
			}
		}
	}
}
