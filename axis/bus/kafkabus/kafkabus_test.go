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
