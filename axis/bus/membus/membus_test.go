package membus_test

import (
	"context"
	"testing"

	"axis/axis/bus"
	"axis/axis/bus/bustest"
	"axis/axis/bus/membus"
)

func TestContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (bus.Publisher, bus.Subscriber, bus.Admin) {
		b := membus.New(membus.Options{})
		t.Cleanup(func() { b.Close() })
		return b, b, b
	})
}

func TestCloseStopsSubscribers(t *testing.T) {
	b := membus.New(membus.Options{})
	ctx := context.Background()
	if err := b.EnsureTopics(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, "t", "g", func(context.Context, bus.Message) error { return nil }) }()
	b.Close()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe after Close = %v, want nil", err)
	}
	if err := b.Publish(ctx, bus.Message{Topic: "t"}); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestMessagesAreCopies(t *testing.T) {
	b := membus.New(membus.Options{})
	ctx := context.Background()
	b.EnsureTopics(ctx, "t")
	v := []byte("original")
	if err := b.Publish(ctx, bus.Message{Topic: "t", Value: v}); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	got := b.Messages("t")
	if len(got) != 1 || string(got[0].Value) != "original" {
		t.Fatalf("stored %q, want the bytes as published", got[0].Value)
	}
	got[0].Value[0] = 'Y'
	if again := b.Messages("t"); string(again[0].Value) != "original" {
		t.Fatalf("log changed through a returned copy: %q", again[0].Value)
	}
}
