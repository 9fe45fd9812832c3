package kafkabus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
)

// TestMaxPackage carries a package of exactly 64 MiB (SPEC §6 default
// --max-package-bytes) with its headers through the writer, the broker and a reader.
func TestMaxPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB")
	}
	br := startBroker(t, broker.Config{NoSync: true})
	b := newBus(t, testConfig(t, br.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 64<<20)
	for i := range v {
		v[i] = byte(i * 31)
	}
	sum := sha256.Sum256(v)
	m := bus.Message{Topic: "big", Key: []byte("DOC-64MiB"), Value: v, Headers: []bus.Header{
		{Key: "axis-type", Value: []byte("edoc")},
		{Key: "axis-sha256", Value: sum[:]},
	}}
	start := time.Now()
	if err := b.Publish(ctx, m); err != nil {
		t.Fatalf("Publish 64 MiB: %v", err)
	}
	t.Logf("published 64 MiB in %v", time.Since(start))
	sctx, stop := context.WithCancel(ctx)
	var got bus.Message
	b.Subscribe(sctx, "big", "big", func(_ context.Context, m bus.Message) error {
		got = m
		stop()
		return nil
	})
	if !bytes.Equal(got.Value, v) || !bytes.Equal([]byte(got.Header("axis-sha256")), sum[:]) {
		t.Fatalf("got %d bytes back, want the 64 MiB intact", len(got.Value))
	}
	t.Logf("published and consumed 64 MiB in %v", time.Since(start))
}
