package kafkabus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/errs"
)

// TestMaxPackage carries a message of exactly bus.MaxMessageBytes (a 64 MiB package,
// SPEC §6 default --max-package-bytes, plus room for key and headers) through the
// writer, the broker and a reader, and refuses one byte more.
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
	m := bus.Message{Topic: "big", Key: []byte("DOC-64MiB"), Headers: []bus.Header{
		{Key: "axis-type", Value: []byte("edoc")},
		{Key: "axis-sha256", Value: make([]byte, sha256.Size)},
	}}
	v := make([]byte, bus.MaxMessageBytes-m.Size())
	pattern := make([]byte, 64<<10)
	for i := range pattern {
		pattern[i] = byte(i * 31)
	}
	for i := 0; i < len(v); i += len(pattern) {
		copy(v[i:], pattern) // not byte by byte: slow under the race detector
	}
	sum := sha256.Sum256(v)
	m.Value = v
	copy(m.Headers[1].Value, sum[:])
	if m.Size() != bus.MaxMessageBytes {
		t.Fatalf("test message is %d bytes, want %d", m.Size(), bus.MaxMessageBytes)
	}
	over := m
	over.Value = append(v[:len(v):len(v)], 0)
	if err := b.Publish(ctx, over); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("Publish of MaxMessageBytes+1 = %v, want %s", err, errs.TooLarge)
	}
	start := time.Now()
	if err := b.Publish(ctx, m); err != nil {
		t.Fatalf("Publish 64 MiB: %v", err)
	}
	t.Logf("published %d bytes in %v", m.Size(), time.Since(start))
	sctx, stop := context.WithCancel(ctx)
	var got bus.Message
	b.Subscribe(sctx, "big", "big", func(_ context.Context, m bus.Message) error {
		got = m
		stop()
		return nil
	})
	if !bytes.Equal(got.Value, v) || !bytes.Equal([]byte(got.Header("axis-sha256")), sum[:]) {
		t.Fatalf("got %d bytes back, want the %d intact", len(got.Value), len(v))
	}
	t.Logf("published and consumed them in %v", time.Since(start))
}
