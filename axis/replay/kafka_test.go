package replay

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// The Kafka source reads the audit partition from its start to the end it had when
// reading began, without a consumer group; redelivered lines are skipped.
func TestKafkaSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	br, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	kb := auditBus(ctx, t, kafkabus.Config{Brokers: []string{br.Addr()}})
	src := Kafka{Brokers: []string{br.Addr()}}
	if h, err := Run(ctx, src, Options{}); err != nil || h.Report.Events != 0 || h.Break != nil {
		t.Fatalf("empty topic: %+v %v", h, err)
	}
	lines := chainLines(t, journey())
	publish := func(ls [][]byte) {
		var msgs []bus.Message
		for i, l := range ls {
			msgs = append(msgs, bus.Message{Topic: TopicAudit, Key: []byte(strconv.Itoa(i)), Value: l})
		}
		if err := kb.Publish(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	publish(lines[:9])
	publish(lines[6:]) // a retried batch: 7..9 twice
	h, err := Run(ctx, src, Options{})
	if err != nil || h.Break != nil || h.Report.Events != 13 || h.Duplicates != 3 {
		t.Fatalf("events %d duplicates %d break %v err %v", h.Report.Events, h.Duplicates, h.Break, err)
	}
	publish([][]byte{lines[4]}) // an old line again, then a forged continuation
	forged := append([]byte(nil), lines[12]...)
	forged[len(forged)-3] ^= 1
	publish([][]byte{forged})
	h, err = Run(ctx, src, Options{})
	if err != nil || h.Break == nil || h.Break.Seq != 14 {
		t.Fatalf("break %+v err %v", h.Break, err)
	}
}

// auditBus is a bus on cfg's brokers (closed when the test ends) with the audit topic
// created.
func auditBus(ctx context.Context, t *testing.T, cfg kafkabus.Config) *kafkabus.Bus {
	t.Helper()
	kb, err := kafkabus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	if err := kb.EnsureTopics(ctx, TopicAudit); err != nil {
		t.Fatal(err)
	}
	return kb
}

// kfakeCluster starts a one-broker kfake cluster, for tests that steer it (failing
// produce requests, running its retention pass).
func kfakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The audit publisher sends a page in one Publish. Here the page spans four record
// batches, and the second request fails (NOT_ENOUGH_REPLICAS), then the first retry's
// second: the bus sends a partition's next batch only once the one before it is
// acknowledged, and sends the failed one again, so the topic holds every line once, in
// order, and the replay verifies all of them.
func TestKafkaReplayAfterPartialBatchFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kfakeCluster(t)
	var produces atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if n := produces.Add(1); n != 2 && n != 4 { // the 2nd and 4th requests fail
			return nil, nil, false
		}
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	brokers := c.ListenAddrs()
	// Batches of at most 65 KiB (MaxMessageBytes plus framing): 600 lines make four.
	kb := auditBus(ctx, t, kafkabus.Config{Brokers: brokers, MaxMessageBytes: 1024, RetryMin: 10 * time.Millisecond})
	const n = 600
	var msgs []bus.Message
	for i, l := range rejectedLines(t, n) {
		msgs = append(msgs, bus.Message{Topic: TopicAudit, Key: []byte(strconv.Itoa(i + 1)), Value: l})
	}
	if err := kb.Publish(ctx, msgs...); err != nil { // as the daemon's audit publisher does
		t.Fatalf("publish: %v", err)
	}
	h, err := Run(ctx, Kafka{Brokers: brokers}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.OK() || h.Report.Events != n || h.Report.LastSeq != n || h.Duplicates != 0 {
		t.Fatalf("%s (%d duplicates)", h.Summary(), h.Duplicates)
	}
	if produces.Load() < 6 {
		// The scenario did not happen (the bus batches differently): the test proves nothing.
		t.Fatalf("%d produce requests: no failed batch between two others", produces.Load())
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{TopicAudit: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := offs.Topics[TopicAudit][0].LastOffset; got != n {
		t.Fatalf("the topic holds %d records, want %d (each line once: no batch sent after a failed one)", got, n)
	}
}

// A producer that sends a call's batches at once (kafka-go's Writer does) and sends
// again from a failed one leaves 1..100, 201..300, 101..300 on the topic. Every line is
// there, so the replay verifies all 300 (no false tamper alarm).
func TestKafkaReplayOfResentRanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kfakeCluster(t)
	auditBus(ctx, t, kafkabus.Config{Brokers: c.ListenAddrs()})
	lines := rejectedLines(t, 300)
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	for _, r := range [][2]int{{1, 100}, {201, 300}, {101, 300}} {
		var ms []kafka.Message
		for _, l := range seqs(lines, r[0], r[1]) {
			ms = append(ms, kafka.Message{Topic: TopicAudit, Value: l})
		}
		if err := w.WriteMessages(ctx, ms...); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Run(ctx, Kafka{Brokers: c.ListenAddrs()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.OK() || h.Report.Events != 300 || h.Report.LastSeq != 300 || h.Duplicates != 100 {
		t.Fatalf("%s (%d duplicates)", h.Summary(), h.Duplicates)
	}
}

// writeAged writes lines[0] as published eight days ago and the rest now, then runs
// the broker's retention pass (what a real broker's log cleaner does on its own).
func writeAged(t *testing.T, ctx context.Context, c *kfake.Cluster, topic string, lines [][]byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: lines[0], Time: time.Now().Add(-8 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var rest []kafka.Message
	for _, l := range lines[1:] {
		rest = append(rest, kafka.Message{Topic: topic, Value: l})
	}
	if len(rest) > 0 {
		if err := w.WriteMessages(ctx, rest...); err != nil {
			t.Fatal(err)
		}
	}
	c.ApplyRetention()
}

// The audit topic the daemon creates keeps its start however old it is, so the replay
// rebuilds the history from seq 1 after the broker's retention has run.
func TestKafkaAuditTopicKeepsItsStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kfakeCluster(t)
	auditBus(ctx, t, kafkabus.Config{Brokers: c.ListenAddrs()})
	writeAged(t, ctx, c, TopicAudit, rejectedLines(t, 3))
	h, err := Run(ctx, Kafka{Brokers: c.ListenAddrs()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.OK() || h.Report.FirstSeq != 1 || h.Report.Events != 3 {
		t.Fatalf("after the broker's retention ran: %s (first seq %d): the audit log lost its start", h.Summary(), h.Report.FirstSeq)
	}
}

// On a topic created elsewhere with the broker's 7-day retention, the head is deleted:
// the replay says so (HeadMissing, not OK) instead of verifying what remains as if it
// were the whole log; a topic whose every line was deleted is an error, not an empty OK.
func TestKafkaReplayOfATopicThatLostItsStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kfakeCluster(t)
	cl := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second}
	week := []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.Itoa(7 * 24 * 3600 * 1000)}}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: TopicAudit, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: week},
		{Topic: "gone", NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: week},
	}})
	if err != nil || resp.Errors[TopicAudit] != nil || resp.Errors["gone"] != nil {
		t.Fatalf("create: %v %+v", err, resp)
	}
	lines := rejectedLines(t, 3)
	writeAged(t, ctx, c, TopicAudit, lines)
	h, err := Run(ctx, Kafka{Brokers: c.ListenAddrs()}, Options{From: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.OK() || !h.HeadMissing || h.Break != nil || h.Report.FirstSeq != 2 || !strings.HasPrefix(h.Summary(), "INCOMPLETE first_seq=2") {
		t.Fatalf("head missing %v: %s", h.HeadMissing, h.Summary())
	}
	if h, err := Run(ctx, Kafka{Brokers: c.ListenAddrs()}, Options{From: 2}); err != nil || !h.OK() || h.Report.Events != 2 {
		t.Fatalf("--from the first seq present: %v %s", err, h.Summary())
	}
	writeAged(t, ctx, c, "gone", lines[:1])
	if _, err := Run(ctx, Kafka{Brokers: c.ListenAddrs(), Topic: "gone"}, Options{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a topic whose every line was deleted: %v, want %s", err, errs.NotFound)
	}
}
