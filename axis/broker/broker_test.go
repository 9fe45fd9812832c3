package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

func start(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func client(t *testing.T, addr string) *kafkabus.Bus {
	t.Helper()
	c, err := kafkabus.New(kafkabus.Config{
		Brokers:  []string{addr},
		Logger:   zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MetadataTTL: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// consume reads n messages as group and returns their values in order.
func consume(t *testing.T, c *kafkabus.Bus, topic, group string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(sctx, topic, group, func(_ context.Context, m bus.Message) error {
			got = append(got, string(m.Value))
			if len(got) == n {
				stop()
			}
			return nil
		})
	}()
	<-done
	if len(got) < n {
		t.Fatalf("group %s consumed %d of %d messages", group, len(got), n)
	}
	return got
}

// TestPersistence: messages and committed offsets survive a broker restart on the
// same data dir.
func TestPersistence(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSync=%v", noSync), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "kafka")
			b1 := start(t, broker.Config{Addr: "127.0.0.1:0", DataDir: dir, NoSync: noSync})
			c1 := client(t, b1.Addr())
			ctx := context.Background()
			if err := c1.EnsureTopics(ctx, "persist"); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := 0; i < 50; i++ {
				v := fmt.Sprintf("m%02d", i)
				want = append(want, v)
				if err := c1.Publish(ctx, bus.Message{Topic: "persist", Key: []byte("k"), Value: []byte(v),
					Headers: []bus.Header{{Key: "axis-audit-seq", Value: []byte(fmt.Sprint(i))}}}); err != nil {
					t.Fatal(err)
				}
			}
			if got := consume(t, c1, "persist", "half", 20); fmt.Sprint(got) != fmt.Sprint(want[:20]) {
				t.Fatalf("before restart: %v", got)
			}
			c1.Close()
			b1.Close()

			b2 := start(t, broker.Config{Addr: "127.0.0.1:0", DataDir: dir, NoSync: noSync})
			c2 := client(t, b2.Addr())
			if got := consume(t, c2, "persist", "fresh", 50); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after restart, a new group read %v, want %v", got, want)
			}
			if got := consume(t, c2, "persist", "half", 30); fmt.Sprint(got) != fmt.Sprint(want[20:]) {
				t.Errorf("after restart, the group resumed with %v, want %v", got, want[20:])
			}
			// EnsureTopics on the restarted broker finds the topic: nothing to create.
			if err := c2.EnsureTopics(ctx, "persist"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	start(t, broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	_, err := broker.Start(context.Background(), broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("second broker on the same data dir: %v, want %s", err, errs.Unavailable)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  broker.Config
	}{
		{"bad addr", broker.Config{Addr: "nonsense"}},
		{"bad advertise", broker.Config{Addr: "127.0.0.1:0", Advertise: "x"}},
		{"bad mechanism", broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Mechanism: "GSSAPI", Name: "u", Password: "p"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := broker.Start(context.Background(), tc.cfg)
			if err == nil {
				b.Close()
				t.Fatal("Start succeeded")
			}
			if !errs.Is(err, errs.BadRequest) {
				t.Errorf("error %v, want %s", err, errs.BadRequest)
			}
		})
	}
	// A port in use is not a configuration error but an unavailable resource.
	b := start(t, broker.Config{Addr: "127.0.0.1:0"})
	if _, err := broker.Start(context.Background(), broker.Config{Addr: b.Addr()}); !errs.Is(err, errs.Unavailable) {
		t.Errorf("second broker on %s: %v, want %s", b.Addr(), err, errs.Unavailable)
	}
}

func TestAdvertise(t *testing.T) {
	b := start(t, broker.Config{Addr: "127.0.0.1:0", Advertise: "broker.example:9092"})
	if b.Addr() != "broker.example:9092" {
		t.Fatalf("Addr() = %q, want the advertised address", b.Addr())
	}
}

// TestUsersFromConfig: on a reused data dir the configured accounts win over the ones
// kfake saved at the previous start.
func TestUsersFromConfig(t *testing.T) {
	dir := t.TempDir()
	ping := func(addr, pass string) error {
		c, err := kafkabus.New(kafkabus.Config{Brokers: []string{addr}, SASLMechanism: kafkabus.SASLScramSHA256, Username: "alice", Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Ping(ctx)
	}
	b1 := start(t, broker.Config{Addr: "127.0.0.1:0", DataDir: dir, Users: []broker.User{{Mechanism: broker.ScramSHA256, Name: "alice", Password: "old"}}})
	if err := ping(b1.Addr(), "old"); err != nil {
		t.Fatalf("first start, right password: %v", err)
	}
	b1.Close()
	b2 := start(t, broker.Config{Addr: "127.0.0.1:0", DataDir: dir, Users: []broker.User{{Mechanism: broker.ScramSHA256, Name: "alice", Password: "new"}}})
	if err := ping(b2.Addr(), "new"); err != nil {
		t.Errorf("restart with a new password refuses it: %v", err)
	}
	if err := ping(b2.Addr(), "old"); err == nil {
		t.Error("restart with a new password still accepts the old one")
	}
}
