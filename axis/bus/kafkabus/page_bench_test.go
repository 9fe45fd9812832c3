//go:build unix

package kafkabus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"axis/axis/broker"
	"axis/axis/bus"
)

// BenchmarkPublishPage measures what the daemon's dispatcher does per page of the outbox:
// one Publish of 36 copies of 5.5 KB (12 packages for 3 recipients each) spread over 13
// inbox topics, to the embedded broker with a data dir and no fsync. cpu-µs/page is the
// process's CPU (broker included) per page. "writer" is kafka-go's Writer as Publish used
// it until session 10 (one produce request per partition), for reference.
func BenchmarkPublishPage(b *testing.B) {
	for _, mode := range []string{"publish", "writer"} {
		b.Run(mode, func(b *testing.B) {
			kb, addr := benchBus(b, broker.Config{DataDir: filepath.Join(b.TempDir(), "k"), NoSync: true})
			ctx := context.Background()
			var topics []string
			for i := range 13 {
				topics = append(topics, fmt.Sprintf("inbox-%d", i))
			}
			if err := kb.EnsureTopics(ctx, topics...); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 5500)
			rng := rand.New(rand.NewPCG(1, 2))
			page := make([]bus.Message, 36)
			kpage := make([]kafka.Message, len(page))
			for i := range page {
				page[i] = bus.Message{Topic: topics[rng.IntN(len(topics))], Key: []byte(fmt.Sprintf("DOC-%d", i)), Value: value,
					Headers: []bus.Header{{Key: "axis-type", Value: []byte("edoc")}, {Key: "axis-sha256", Value: make([]byte, 64)}}}
				kpage[i] = kafka.Message{Topic: page[i].Topic, Key: page[i].Key, Value: value,
					Headers: []kafka.Header{{Key: "axis-type", Value: []byte("edoc")}, {Key: "axis-sha256", Value: make([]byte, 64)}}}
			}
			w := &kafka.Writer{Addr: kafka.TCP(addr), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
				BatchTimeout: 100 * time.Microsecond}
			defer w.Close()
			send := func() error {
				if mode == "writer" {
					return w.WriteMessages(ctx, kpage...)
				}
				return kb.Publish(ctx, page...)
			}
			if err := send(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := processCPU()
			for b.Loop() {
				if err := send(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu-µs/page")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
