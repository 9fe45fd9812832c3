package kafkabus_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
)

// BenchmarkPublish measures Publish of 5 KB messages against an embedded kfake broker,
// by broker storage (memory, data dir without fsync, data dir with fsync per batch),
// messages per Publish call, and concurrent publishers. msgs/s is the figure to read;
// each Publish returns only once the broker acknowledged (acks=all).
func BenchmarkPublish(b *testing.B) {
	storages := []struct {
		name string
		cfg  func(b *testing.B) broker.Config
	}{
		{"memory", func(*testing.B) broker.Config { return broker.Config{} }},
		{"disk-nosync", func(b *testing.B) broker.Config {
			return broker.Config{DataDir: filepath.Join(b.TempDir(), "k"), NoSync: true}
		}},
		{"disk-fsync", func(b *testing.B) broker.Config { return broker.Config{DataDir: filepath.Join(b.TempDir(), "k")} }},
	}
	shapes := []struct {
		batch, parallel int
	}{{1, 1}, {100, 1}, {1, 16}, {10, 16}}
	value := make([]byte, 5<<10)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	for _, st := range storages {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("%s/batch=%d/publishers=%d", st.name, sh.batch, sh.parallel), func(b *testing.B) {
				kb, _ := benchBus(b, st.cfg(b))
				ctx := context.Background()
				if err := kb.EnsureTopics(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
				msgs := make([]bus.Message, sh.batch)
				for i := range msgs {
					msgs[i] = bus.Message{Topic: "bench", Key: []byte(fmt.Sprintf("DOC-%d", i)), Value: value,
						Headers: []bus.Header{{Key: "axis-type", Value: []byte("edoc")}, {Key: "axis-sha256", Value: make([]byte, 64)}}}
				}
				b.SetBytes(int64(len(value) * sh.batch))
				b.SetParallelism(sh.parallel) // goroutines = parallelism × GOMAXPROCS
				b.ResetTimer()
				if sh.parallel == 1 {
					for i := 0; i < b.N; i++ {
						if err := kb.Publish(ctx, msgs...); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := kb.Publish(ctx, msgs...); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N*sh.batch)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkSubscribe measures consumption of 5 KB messages with the handler-then-commit
// cycle (one synchronous offset commit per message) from an embedded kfake broker.
func BenchmarkSubscribe(b *testing.B) {
	kb, _ := benchBus(b, broker.Config{})
	ctx := context.Background()
	topic := fmt.Sprintf("bench-sub-%d", b.N)
	if err := kb.EnsureTopics(ctx, topic); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 5<<10)
	batch := make([]bus.Message, 0, 100)
	for i := 0; i < b.N; i++ {
		batch = append(batch, bus.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: value})
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := kb.Publish(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	sctx, stop := context.WithCancel(ctx)
	n := 0
	kb.Subscribe(sctx, topic, "bench", func(context.Context, bus.Message) error {
		if n++; n == b.N {
			stop()
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchBus starts an embedded broker with cfg (on a free port, quiet) and a bus on it,
// both closed when the benchmark ends; it returns the bus and the broker's address.
func benchBus(b *testing.B, cfg broker.Config) (*kafkabus.Bus, string) {
	b.Helper()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", zap.NewNop()
	br, err := broker.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	kb, err := kafkabus.New(kafkabus.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kb.Close() })
	return kb, br.Addr()
}
