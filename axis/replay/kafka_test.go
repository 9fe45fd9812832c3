package replay

import (
	"context"
	"strconv"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
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
	kb, err := kafkabus.New(kafkabus.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	if err := kb.EnsureTopics(ctx, TopicAudit); err != nil {
		t.Fatal(err)
	}
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
