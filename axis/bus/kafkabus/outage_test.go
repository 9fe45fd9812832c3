package kafkabus_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis/broker"
	"axis/axis/bus"
)

// Environment of the broker child process (this test binary, re-executed).
const (
	childAddrEnv = "AXIS_TEST_BROKER_ADDR"
	childDirEnv  = "AXIS_TEST_BROKER_DIR"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(childAddrEnv); addr != "" {
		os.Exit(brokerChild(addr, os.Getenv(childDirEnv)))
	}
	os.Exit(m.Run())
}

// brokerChild runs a broker like `axis broker` does: print the address, serve until
// SIGTERM.
func brokerChild(addr, dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	b, err := broker.Start(ctx, broker.Config{Addr: addr, DataDir: dir, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(b.Addr())
	<-ctx.Done()
	b.Close()
	return 0
}

// startChild starts a broker process and returns it with its address once it listens.
func startChild(t *testing.T, addr, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childAddrEnv+"="+addr, childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("broker child did not start: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// TestOutage kills the broker process (SIGKILL, no clean shutdown) in the middle of
// a stream of publishes, restarts it three seconds later on the same port and data
// dir, and checks that every message arrives: what was acknowledged before the kill
// survived it, and what was not was retried until the broker came back. A consumer
// runs through the outage too.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a broker process")
	}
	dir := filepath.Join(t.TempDir(), "kafka")
	child, addr := startChild(t, "127.0.0.1:0", dir)
	cfg := testConfig(t, addr)
	cfg.Logger = zap.NewNop() // the outage makes kafka-go log every failed attempt
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, total = "outage", 400
	if err := b.EnsureTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}

	// The consumer counts distinct values; duplicates are allowed (at least once).
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	subDone := make(chan error, 1)
	go func() {
		subDone <- b.Subscribe(sctx, topic, "outage", func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			seen[string(m.Value)]++
			if len(seen) == total {
				close(all)
			}
			return nil
		})
	}()

	// The publisher behaves like the daemon's outbox: it retries a failed Publish.
	var published, failedCalls int
	killed := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			m := bus.Message{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("m%04d", i))}
			for {
				err := b.Publish(ctx, m)
				if err == nil {
					break
				}
				failedCalls++
				if ctx.Err() != nil {
					pubDone <- err
					return
				}
			}
			published++
			if i == total/3 {
				close(killed) // a third is acknowledged: pull the plug
			}
			time.Sleep(2 * time.Millisecond)
		}
		pubDone <- nil
	}()

	<-killed
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	t.Logf("broker killed after %d acknowledged messages", total/3+1)
	time.Sleep(3 * time.Second)
	start := time.Now()
	_, addr2 := startChild(t, addr, dir)
	if addr2 != addr {
		t.Fatalf("restarted broker on %s, want %s", addr2, addr)
	}
	if err := <-pubDone; err != nil {
		t.Fatalf("publisher gave up after %d messages: %v", published, err)
	}
	t.Logf("publisher finished %v after the restart; %d Publish calls returned an error and were retried", time.Since(start), failedCalls)
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("consumer saw %d distinct messages of %d", len(seen), total)
	}
	stop()
	<-subDone
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("consumer saw all %d messages, %d duplicate deliveries", total, dups)

	// The live consumer may have read the early messages before the kill; a new group
	// reading the log from the start proves the restarted broker still has them.
	fresh := map[string]bool{}
	fctx, fstop := context.WithCancel(ctx)
	defer fstop()
	b.Subscribe(fctx, topic, "after-restart", func(_ context.Context, m bus.Message) error {
		fresh[string(m.Value)] = true
		if len(fresh) == total {
			fstop()
		}
		return nil
	})
	if len(fresh) != total {
		t.Fatalf("the restarted broker's log holds %d distinct messages, want %d", len(fresh), total)
	}
}
