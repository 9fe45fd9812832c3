package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/bustest"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// testLogger logs warnings and up to the test log, so failures explain themselves
// without drowning the output in kafka-go chatter.
func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// startBroker starts an in-process kfake broker on a free port.
func startBroker(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("broker.Start: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testConfig is a client configuration with short timers, so that tests of failure
// paths do not wait for production-sized backoffs.
func testConfig(t *testing.T, addr string) kafkabus.Config {
	return kafkabus.Config{
		Brokers:     []string{addr},
		Logger:      testLogger(t),
		RetryMin:    20 * time.Millisecond,
		RetryMax:    500 * time.Millisecond,
		MetadataTTL: 500 * time.Millisecond,
	}
}

func newBus(t *testing.T, cfg kafkabus.Config) *kafkabus.Bus {
	t.Helper()
	b, err := kafkabus.New(cfg)
	if err != nil {
		t.Fatalf("kafkabus.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (bus.Publisher, bus.Subscriber, bus.Admin) {
		br := startBroker(t, broker.Config{NoSync: true})
		b := newBus(t, testConfig(t, br.Addr()))
		return b, b, b
	})
}

func TestCloseStopsSubscribers(t *testing.T) {
	br := startBroker(t, broker.Config{NoSync: true})
	b := newBus(t, testConfig(t, br.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, bus.Message{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, "t", "g", func(context.Context, bus.Message) error { got <- struct{}{}; return nil })
	}()
	<-got
	b.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Subscribe after Close = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("Subscribe still running after Close")
	}
	if err := b.Publish(ctx, bus.Message{Topic: "t", Value: []byte("y")}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Publish after Close = %v, want %s", err, errs.Unavailable)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestBrokerDown(t *testing.T) {
	br := startBroker(t, broker.Config{NoSync: true})
	addr := br.Addr()
	br.Close()
	cfg := testConfig(t, addr)
	cfg.PublishTimeout = 500 * time.Millisecond
	b := newBus(t, cfg)
	ctx := context.Background()
	if err := b.Ping(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Ping with the broker down = %v, want %s", err, errs.Unavailable)
	}
	// Publish gives up after PublishTimeout with a transient error, for the caller's
	// own retry (the daemon's outbox).
	err := b.Publish(ctx, bus.Message{Topic: "t", Value: []byte("x")})
	if !errs.Is(err, errs.Unavailable) || !errs.CodeOf(err).Transient() {
		t.Errorf("Publish with the broker down = %v, want a transient %s", err, errs.Unavailable)
	}
	if err := b.EnsureTopics(ctx, "t"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("EnsureTopics with the broker down = %v, want %s", err, errs.Unavailable)
	}
}
