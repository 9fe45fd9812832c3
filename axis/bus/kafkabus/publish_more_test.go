package kafkabus_test

// More tests of Publish's produce path (from session 10's review: each of the first
// three failed on the code as first written).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// An inbox topic that exists already (created by an operator, EnsureTopics leaves it as
// it is) with Kafka's default max.message.bytes (1048588): every message of the call is
// 5 KiB, far below the topic's limit, so the call succeeds: batches stay under 1 MiB,
// and a refused batch of several messages is split (as the Java producer does), not
// reported too large.
func TestPublishToATopicWithASmallerLimit(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "inbox.ops"); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	resp, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "inbox.ops",
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "1048588"}}}}})
	if err != nil || resp.Errors[kafka.AlterConfigsResponseResource{Type: int8(kafka.ResourceTypeTopic), Name: "inbox.ops"}] != nil {
		t.Fatalf("alter configs: %v %+v", err, resp)
	}
	var msgs []bus.Message
	for i := range 300 { // 300 × 5 KiB = 1.5 MiB for one partition
		msgs = append(msgs, bus.Message{Topic: "inbox.ops", Key: []byte("DOC-1"),
			Value: []byte(fmt.Sprintf("%04d", i) + strings.Repeat("x", 5<<10))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish of 300 messages of 5 KiB to a topic accepting 1 MiB per batch: %v", err)
	}
	got := readAll(t, cfg.Brokers, "inbox.ops", 0)
	if len(got) != 300 {
		t.Fatalf("topic holds %d messages, want 300", len(got))
	}
}

// keysFor returns n keys that murmur2 puts in partition p of 2.
func keysFor(p, n int) []string {
	var bal kafka.Murmur2Balancer
	var out []string
	for i := 0; len(out) < n; i++ {
		k := fmt.Sprintf("DOC-%d", i)
		if bal.Balance(kafka.Message{Key: []byte(k)}, 0, 1) == p {
			out = append(out, k)
		}
	}
	return out
}

// One partition of a topic fails once with a retriable error (NOT_ENOUGH_REPLICAS). The
// producer never sends a partition's later batches after a failed one, so resending the
// failed messages alone keeps every partition's order, and a partition that had no
// failure gets nothing twice.
func TestPublishRetriesOnlyTheFailed(t *testing.T) {
	c := newCluster(t, 2)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 2
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "inbox.x"); err != nil {
		t.Fatal(err)
	}
	spreadLeaders(t, c, cfg.MetadataTTL, 2, "inbox.x") // p0 on broker 0, p1 on broker 1: one request each
	failOnce := failPartitionOnce(c, "inbox.x", 1)
	k0, k1 := keysFor(0, 5), keysFor(1, 5)
	var msgs []bus.Message
	for i := range 5 { // p1's first message comes before all but one of p0's
		msgs = append(msgs, bus.Message{Topic: "inbox.x", Key: []byte(k0[i]), Value: []byte("p0-" + strconv.Itoa(i))},
			bus.Message{Topic: "inbox.x", Key: []byte(k1[i]), Value: []byte("p1-" + strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if failOnce.Load() == 0 {
		t.Fatal("the failure was not injected: the test proves nothing")
	}
	for p := range 2 {
		got := readAll(t, cfg.Brokers, "inbox.x", p)
		var vals []string
		for _, m := range got {
			vals = append(vals, string(m.Value))
		}
		if len(got) != 5 {
			t.Errorf("partition %d holds %d records %v, want 5 (partition 1 failed before appending; nothing needed twice)", p, len(got), vals)
		}
	}
}

// discoverGoroutines counts kafka-go transport pools alive (one metadata loop each).
func discoverGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "kafka-go.(*connPool).discover")
}

// Close while a Publish is between two produce requests ("during"): Close cancels the
// call and waits for it before dropping the transport's pools (CloseIdleConnections);
// otherwise the call's next RoundTrip would create a new pool, whose metadata loop would
// run (and dial the brokers every MetadataTTL) for the life of the process. "after": the
// plain case, Close once Publish returned.
func TestCloseLeavesNoPool(t *testing.T) {
	for _, during := range []bool{true, false} {
		t.Run(map[bool]string{true: "during", false: "after"}[during], func(t *testing.T) {
			time.Sleep(time.Second)        // pools of earlier tests finish closing
			before := discoverGoroutines() // pools other tests left
			c := newCluster(t, 1)
			cfg := testConfig(t, c.ListenAddrs()[0])
			cfg.MaxMessageBytes = 100 << 10 // requests of at most 164 KiB
			b, err := kafkabus.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := b.EnsureTopics(ctx, "a", "b", "c"); err != nil {
				t.Fatal(err)
			}
			big := []byte(strings.Repeat("z", 90<<10)) // one chunk per topic, one request each
			publish := func() error {
				return b.Publish(ctx, bus.Message{Topic: "a", Value: big}, bus.Message{Topic: "b", Value: big}, bus.Message{Topic: "c", Value: big})
			}
			if during {
				c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
					c.KeepControl()
					time.Sleep(300 * time.Millisecond) // a slow broker
					return nil, nil, false
				})
				done := make(chan error, 1)
				go func() { done <- publish() }()
				time.Sleep(100 * time.Millisecond) // the first request is at the broker
				b.Close()
				if err := <-done; err == nil {
					t.Fatal("Publish succeeded after Close")
				}
			} else {
				if err := publish(); err != nil {
					t.Fatal(err)
				}
				b.Close()
			}
			time.Sleep(time.Second)
			if n := discoverGoroutines() - before; n != 0 {
				t.Fatalf("%d kafka-go transport pools still running after Close and the end of Publish, want 0", n)
			}
		})
	}
}

// Publish ends with its context and with Close while the broker holds the request.
func TestPublishHonoursCtxAndClose(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	b := newBus(t, cfg)
	ctx := context.Background()
	if err := b.EnsureTopics(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(2 * time.Second)
		return nil, nil, false
	})
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Publish(cctx, bus.Message{Topic: "slow", Value: []byte("x")})
	if err == nil || time.Since(start) > time.Second || !errs.CodeOf(err).Transient() {
		t.Fatalf("Publish with a 300 ms context: %v after %v", err, time.Since(start))
	}
	go func() { time.Sleep(300 * time.Millisecond); b.Close() }()
	start = time.Now()
	err = b.Publish(ctx, bus.Message{Topic: "slow", Value: []byte("y")})
	if err == nil || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("Publish during Close: %v after %v", err, time.Since(start))
	}
}

// A topic deleted behind the bus's back (its metadata cache still names it), in a call
// with a healthy topic: Publish reports bus.ErrUnknownTopic (the dispatcher then creates
// it again), within a few metadata refreshes, and the healthy topic's messages are
// appended once.
func TestPublishToADeletedTopic(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "gone", "here"); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{"gone"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := b.Publish(ctx, bus.Message{Topic: "here", Key: []byte("k"), Value: []byte("1")},
		bus.Message{Topic: "gone", Key: []byte("k"), Value: []byte("x")},
		bus.Message{Topic: "here", Key: []byte("k"), Value: []byte("2")})
	if !errors.Is(err, bus.ErrUnknownTopic) || errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("Publish to a deleted topic: %v", err)
	}
	if d := time.Since(start); d > 5*cfg.MetadataTTL {
		t.Errorf("took %v to report the unknown topic", d)
	}
	if got := readAll(t, cfg.Brokers, "here", 0); len(got) != 2 || string(got[0].Value) != "1" || string(got[1].Value) != "2" {
		t.Errorf("healthy topic holds %d records", len(got))
	}
}

// Nil keys spread over partitions, every message once; headers, null values and
// CreateTime timestamps survive the hand-built produce request; an empty call is a no-op.
func TestPublishNilKeysHeadersTimestamps(t *testing.T) {
	c := newCluster(t, 1)
	cfg := testConfig(t, c.ListenAddrs()[0])
	cfg.Partitions = 3
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Publish(ctx); err != nil {
		t.Fatalf("empty Publish: %v", err)
	}
	if err := b.EnsureTopics(ctx, "nokey"); err != nil {
		t.Fatal(err)
	}
	var msgs []bus.Message
	for i := range 60 {
		msgs = append(msgs, bus.Message{Topic: "nokey", Value: []byte(strconv.Itoa(i)),
			Headers: []bus.Header{{Key: "h", Value: []byte(strconv.Itoa(i))}, {Key: "nil", Value: nil}}})
	}
	msgs = append(msgs, bus.Message{Topic: "nokey", Key: []byte("k")}) // null value
	before := time.Now().Add(-time.Second)
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	seen := map[string]int{}
	used := 0
	for p := range 3 {
		resp, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: "nokey", Partition: p, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil || resp.Error != nil {
			t.Fatal(err, resp.Error)
		}
		n := 0
		for {
			r, err := resp.Records.ReadRecord()
			if err != nil {
				break
			}
			n++
			if r.Time.Before(before) || r.Time.After(time.Now()) {
				t.Errorf("record time %v", r.Time)
			}
			if r.Key != nil && r.Value != nil {
				t.Errorf("keyed record with a value: want the null value kept")
			}
			if r.Value == nil {
				continue
			}
			v := make([]byte, r.Value.Len())
			r.Value.Read(v)
			seen[string(v)]++
			if len(r.Headers) != 2 || string(r.Headers[0].Value) != string(v) || r.Headers[1].Value != nil {
				t.Errorf("record %s headers %+v", v, r.Headers)
			}
		}
		if n > 0 {
			used++
		}
	}
	if len(seen) != 60 || used < 2 {
		t.Errorf("%d distinct records over %d partitions, want 60 over several", len(seen), used)
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %s appended %d times", v, n)
		}
	}
}

// Codes Kafka marks not retriable for a produce (a timestamp outside the topic's range,
// a topic policy, a malformed request) end Publish at once with errs.BadRequest, after
// one request: retried, they held the dispatcher's page for the whole PublishTimeout.
// The dispatcher sets such deliveries aside and goes on with the others.
func TestPublishPermanentCodesNotRetried(t *testing.T) {
	for _, code := range []kafka.Error{kafka.InvalidTimestamp, kafka.PolicyViolation, kafka.InvalidRequest, kafka.UnsupportedForMessageFormat} {
		t.Run(code.Title(), func(t *testing.T) {
			c := newCluster(t, 1)
			cfg := testConfig(t, c.ListenAddrs()[0])
			cfg.PublishTimeout = 10 * time.Second
			b := newBus(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := b.EnsureTopics(ctx, "refusing"); err != nil {
				t.Fatal(err)
			}
			failed := failPartition(c, "refusing", 0, int16(code), -1)
			start := time.Now()
			err := b.Publish(ctx, bus.Message{Topic: "refusing", Value: []byte("x")})
			took := time.Since(start)
			if errs.CodeOf(err) != errs.BadRequest || !errors.Is(err, code) {
				t.Fatalf("Publish answered %d: %v, want bad_request", code, err)
			}
			if n := failed.Load(); n != 1 || took > 2*time.Second {
				t.Fatalf("%d requests in %v, want 1 and no retry", n, took)
			}
		})
	}
}
