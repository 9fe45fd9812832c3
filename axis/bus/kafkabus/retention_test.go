package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// topicConfigs reads the named configs of a topic from the broker.
func topicConfigs(t *testing.T, ctx context.Context, addr, topic string, names ...string) map[string]string {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: names},
	}})
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].Error != nil {
		t.Fatalf("describe %s: %v %+v", topic, err, resp)
	}
	got := map[string]string{}
	for _, e := range resp.Resources[0].ConfigEntries {
		got[e.ConfigName] = e.ConfigValue
	}
	return got
}

// The broker's default retention (7 days, or a site-wide size bound) would delete the
// head of axis.audit, so that `axis audit replay` could no longer rebuild the history,
// and the unread documents of an agency offline for a week: EnsureTopics creates every
// topic with no retention limit, in time or size, and the broker's retention pass then
// deletes nothing, however old or large.
func TestEnsureTopicsKeepsEveryRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.BrokerConfigs(map[string]string{"log.retention.ms": "3600000", "log.retention.bytes": "100"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	b := newBus(t, testConfig(t, addr))
	topics := []string{"axis.audit", "axis.inbox.000.00.00.G22", "axis.status", "axis.dlq"}
	if err := b.EnsureTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		got := topicConfigs(t, ctx, addr, topic, "retention.ms", "retention.bytes")
		if got["retention.ms"] != "-1" || got["retention.bytes"] != "-1" {
			t.Errorf("%s: %v, want retention.ms and retention.bytes -1", topic, got)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := w.WriteMessages(ctx, kafka.Message{Topic: "axis.audit", Value: []byte("a month old"), Time: old}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, kafka.Message{Topic: "axis.audit", Value: make([]byte, 1000)}); err != nil { // past 100 bytes
		t.Fatal(err)
	}
	c.ApplyRetention() // what a real broker's log cleaner does on its own
	conn, err := kafka.DialLeader(ctx, "tcp", addr, "axis.audit", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if first, end, err := conn.ReadOffsets(); err != nil || first != 0 || end != 2 {
		t.Fatalf("offsets after the retention pass: %d..%d %v, want 0..2", first, end, err)
	}
}

// A topic that exists already keeps the retention an operator gave it, and the log says
// that EnsureTopics left it as it was.
func TestEnsureTopicsLeavesExistingTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: "axis.inbox.000.00.00.G22", NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "2592000000"}},
	}}})
	if err != nil || resp.Errors["axis.inbox.000.00.00.G22"] != nil {
		t.Fatalf("create: %v %v", err, resp)
	}
	core, logs := observer.New(zap.InfoLevel)
	cfg := testConfig(t, addr)
	cfg.Logger = zap.New(core)
	b := newBus(t, cfg)
	if err := b.EnsureTopics(ctx, "axis.audit", "axis.inbox.000.00.00.G22"); err != nil {
		t.Fatal(err)
	}
	if got := topicConfigs(t, ctx, addr, "axis.inbox.000.00.00.G22", "retention.ms")["retention.ms"]; got != "2592000000" {
		t.Errorf("existing topic's retention.ms = %q, want the operator's 2592000000", got)
	}
	if got := topicConfigs(t, ctx, addr, "axis.audit", "retention.ms")["retention.ms"]; got != "-1" {
		t.Errorf("new topic's retention.ms = %q, want -1", got)
	}
	said := logs.FilterMessageSnippet("left as it is").All()
	if len(said) != 1 || len(said[0].Context) != 1 {
		t.Fatalf("log: %+v", logs.All())
	}
	if got := said[0].ContextMap()["topics"]; len(got.([]any)) != 1 || got.([]any)[0] != "axis.inbox.000.00.00.G22" {
		t.Errorf("logged topics %v, want the existing one only", got)
	}
	// The operator's finite retention is kept, with a warning naming it.
	warned := logs.FilterMessageSnippet("deletes old records").All()
	if len(warned) != 1 || warned[0].Level != zap.WarnLevel {
		t.Fatalf("finite retention of an existing topic not warned about: %+v", logs.All())
	}
	if m := warned[0].ContextMap(); m["topic"] != "axis.inbox.000.00.00.G22" || m["retention.ms"] != "2592000000" {
		t.Errorf("warning fields %v", m)
	}
	// Topics that keep everything (the axis's own, at its next start) are not warned about.
	logs.TakeAll()
	if err := b.EnsureTopics(ctx, "axis.audit"); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("deletes old records").Len(); n != 0 {
		t.Errorf("a topic keeping every record was warned about: %+v", logs.All())
	}
}
