// Package bustest is the contract every bus.Bus implementation passes: the in-memory
// bus and the Kafka bus run the same suite, so the daemon's tests on the in-memory bus
// say something about production.
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"axis/axis/bus"
	"axis/axis/errs"
)

// NewBus returns a fresh bus for one test; it registers its own cleanup with t.Cleanup.
type NewBus func(t *testing.T) (bus.Publisher, bus.Subscriber, bus.Admin)

// Wait bounds every wait of the suite. It is a liveness limit (a broken implementation
// hangs), not a speed target: the slowest step, a Kafka consumer-group join, takes
// well under a second on an idle machine.
var Wait = 30 * time.Second

// Run runs the contract suite as subtests of t.
func Run(t *testing.T, newBus NewBus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newBus NewBus)
	}{
		{"EnsureTopicsIdempotent", testEnsureTopics},
		{"PublishUnknownTopic", testPublishUnknownTopic},
		{"PublishInvalid", testPublishInvalid},
		{"OrderPerKey", testOrderPerKey},
		{"BytesIntact", testBytesIntact},
		{"ConcurrentPublish", testConcurrentPublish},
		{"HandlerErrorRedelivers", testHandlerErrorRedelivers},
		{"CrashBeforeCommitRedelivers", testCrashBeforeCommit},
		{"GroupResumesAtCommit", testGroupResumes},
		{"TwoGroupsEachGetAll", testTwoGroups},
		{"SubscribeBeforeTopicExists", testSubscribeBeforeTopic},
		{"CancelStopsSubscribe", testCancelStops},
		{"LargeValues", testLargeValues},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBus) })
	}
}

var topicSeq atomic.Int64

// newTopic returns a topic name no other test uses, so implementations may share a
// broker between tests.
func newTopic(prefix string) string {
	return fmt.Sprintf("bustest.%s.%d.%d", prefix, time.Now().UnixNano(), topicSeq.Add(1))
}

func ensure(t *testing.T, a bus.Admin, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := a.EnsureTopics(ctx, topics...); err != nil {
		t.Fatalf("EnsureTopics(%v): %v", topics, err)
	}
}

func publish(t *testing.T, p bus.Publisher, msgs ...bus.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish(%d messages): %v", len(msgs), err)
	}
}

// sub is a running subscription whose handler records what it sees.
type sub struct {
	cancel context.CancelFunc
	done   chan error
	got    chan bus.Message
}

// subscribe starts Subscribe in a goroutine. h, if not nil, decides the handler's
// result after the message was recorded; t.Cleanup stops the subscription.
func subscribe(t *testing.T, s bus.Subscriber, topic, group string, h bus.Handler) *sub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &sub{cancel: cancel, done: make(chan error, 1), got: make(chan bus.Message, 10000)}
	go func() {
		r.done <- s.Subscribe(ctx, topic, group, func(ctx context.Context, m bus.Message) error {
			r.got <- m
			if h != nil {
				return h(ctx, m)
			}
			return nil
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the subscription and waits for Subscribe to return.
func (r *sub) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Subscribe returned %v after cancel, want nil", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(Wait):
		t.Fatalf("Subscribe did not return within %v of cancel", Wait)
	}
}

// take waits for n deliveries.
func (r *sub) take(t *testing.T, n int) []bus.Message {
	t.Helper()
	out := make([]bus.Message, 0, n)
	deadline := time.After(Wait)
	for len(out) < n {
		select {
		case m := <-r.got:
			out = append(out, m)
		case err := <-r.done:
			t.Fatalf("Subscribe returned early (%v) after %d of %d messages", err, len(out), n)
		case <-deadline:
			t.Fatalf("got %d of %d messages within %v", len(out), n, Wait)
		}
	}
	return out
}

// quiet asserts that nothing more is delivered for a short while.
func (r *sub) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.got:
		t.Fatalf("unexpected delivery: offset %d key %q value %q", m.Offset, m.Key, trunc(m.Value))
	case <-time.After(d):
	}
}

func msg(topic, key, value string) bus.Message {
	return bus.Message{Topic: topic, Key: []byte(key), Value: []byte(value)}
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func values(ms []bus.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func testEnsureTopics(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	t1, t2 := newTopic("ensure"), newTopic("ensure")
	ensure(t, a, t1)
	ensure(t, a, t1, t2) // one exists already, one is new
	ensure(t, a, t1, t2)
	ensure(t, a) // nothing to do
	publish(t, p, msg(t1, "k", "one"), msg(t2, "k", "two"))
	for _, tc := range []struct{ topic, want string }{{t1, "one"}, {t2, "two"}} {
		r := subscribe(t, s, tc.topic, "ensure-"+tc.want, nil) // one group per topic: a shared group would rebalance
		if got := r.take(t, 1); string(got[0].Value) != tc.want || got[0].Topic != tc.topic {
			t.Errorf("%s: got %q on %q, want %q", tc.topic, got[0].Value, got[0].Topic, tc.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for _, bad := range []string{"", "has space", "ümlaut", strings.Repeat("x", 250), ".."} {
		if err := a.EnsureTopics(ctx, bad); !errs.Is(err, errs.BadRequest) {
			t.Errorf("EnsureTopics(%q) = %v, want %s", bad, err, errs.BadRequest)
		}
	}
}

func testPublishUnknownTopic(t *testing.T, newBus NewBus) {
	p, _, _ := newBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	err := p.Publish(ctx, msg(newTopic("missing"), "k", "v"))
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Publish to a topic never created = %v, want %s (topics are never auto-created)", err, errs.Unavailable)
	}
}

func testPublishInvalid(t *testing.T, newBus NewBus) {
	p, _, a := newBus(t)
	topic := newTopic("invalid")
	ensure(t, a, topic)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := p.Publish(ctx); err != nil {
		t.Errorf("Publish() with no messages = %v, want nil", err)
	}
	if err := p.Publish(ctx, msg("", "k", "v")); !errs.Is(err, errs.BadRequest) {
		t.Errorf("Publish with empty topic = %v, want %s", err, errs.BadRequest)
	}
	huge := bus.Message{Topic: topic, Key: []byte("k"), Value: make([]byte, bus.MaxMessageBytes+1)}
	if err := p.Publish(ctx, huge); !errs.Is(err, errs.TooLarge) {
		t.Errorf("Publish of %d bytes = %v, want %s", len(huge.Value), err, errs.TooLarge)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := p.Publish(cctx, msg(topic, "k", "v")); err == nil || !errors.Is(err, context.Canceled) || !errs.Is(err, errs.Unavailable) {
		t.Errorf("Publish with cancelled context = %v, want an %s error wrapping context.Canceled", err, errs.Unavailable)
	}
}

func testOrderPerKey(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("order")
	ensure(t, a, topic)
	const keys, perKey = 4, 30
	var want []bus.Message
	for i := 0; i < perKey; i++ {
		var call []bus.Message
		for k := 0; k < keys; k++ {
			call = append(call, msg(topic, fmt.Sprintf("doc-%d", k), fmt.Sprintf("doc-%d/%03d", k, i)))
		}
		want = append(want, call...)
		if i%3 == 0 {
			publish(t, p, call...) // several messages in one call
		} else {
			for _, m := range call {
				publish(t, p, m) // one at a time
			}
		}
	}
	r := subscribe(t, s, topic, "order", nil)
	got := r.take(t, len(want))
	r.quiet(t, 200*time.Millisecond)

	byKey := map[string][]string{}
	lastOffset := map[int]int64{}
	for _, m := range got {
		if m.Topic != topic {
			t.Fatalf("message of topic %q delivered on %q", m.Topic, topic)
		}
		if m.Time.IsZero() {
			t.Errorf("message %q has no time", m.Value)
		}
		if last, ok := lastOffset[m.Partition]; ok && m.Offset <= last {
			t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, last)
		}
		lastOffset[m.Partition] = m.Offset
		byKey[string(m.Key)] = append(byKey[string(m.Key)], string(m.Value))
	}
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("doc-%d", k)
		var exp []string
		for i := 0; i < perKey; i++ {
			exp = append(exp, fmt.Sprintf("%s/%03d", key, i))
		}
		if g := byKey[key]; strings.Join(g, ",") != strings.Join(exp, ",") {
			t.Errorf("key %s: got order %v, want %v", key, g, exp)
		}
	}
}

func testBytesIntact(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("bytes")
	ensure(t, a, topic)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	rnd := make([]byte, 64<<10)
	for i := range rnd {
		rnd[i] = byte(rand.IntN(256))
	}
	want := []bus.Message{
		{Topic: topic, Key: all, Value: all, Headers: []bus.Header{
			{Key: "axis-type", Value: []byte("edoc")},
			{Key: "axis-from", Value: []byte("000.00.00.G22")},
			{Key: "binary", Value: all},
			{Key: "dup", Value: []byte("first")},
			{Key: "dup", Value: []byte("second")},
			{Key: "tiếng-việt", Value: []byte("Văn phòng Chính phủ")},
		}},
		{Topic: topic, Key: []byte("random"), Value: rnd, Headers: []bus.Header{{Key: "axis-sha256", Value: []byte("00ff")}}},
		{Topic: topic, Key: []byte("no-headers"), Value: []byte("<edXMLEnvelope/>\r\n\x00")},
		{Topic: topic, Key: []byte("empty-value"), Value: []byte{}},
	}
	publish(t, p, want...)
	r := subscribe(t, s, topic, "bytes", nil)
	got := r.take(t, len(want))
	for i, w := range want {
		g := got[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			t.Errorf("message %d: key/value changed in transit (key %q, %d value bytes, want %d)", i, trunc(g.Key), len(g.Value), len(w.Value))
		}
		if len(g.Headers) != len(w.Headers) {
			t.Errorf("message %d: %d headers, want %d: %v", i, len(g.Headers), len(w.Headers), g.Headers)
			continue
		}
		for j, h := range w.Headers {
			if g.Headers[j].Key != h.Key || !bytes.Equal(g.Headers[j].Value, h.Value) {
				t.Errorf("message %d header %d = %q:%q, want %q:%q", i, j, g.Headers[j].Key, trunc(g.Headers[j].Value), h.Key, trunc(h.Value))
			}
		}
	}
	if v := got[0].Header("dup"); v != "first" {
		t.Errorf(`Header("dup") = %q, want the first, "first"`, v)
	}
	if _, ok := got[2].LookupHeader("axis-type"); ok {
		t.Error("LookupHeader found a header on a message without headers")
	}
}

func testConcurrentPublish(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("concurrent")
	ensure(t, a, topic)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), Wait)
			defer cancel()
			for i := 0; i < each; i++ {
				if err := p.Publish(ctx, msg(topic, fmt.Sprintf("w%d", w), fmt.Sprintf("w%d/%03d", w, i))); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("concurrent Publish: %v", err)
	}
	got := subscribe(t, s, topic, "g", nil).take(t, workers*each)
	seen := map[string]bool{}
	next := map[string]int{}
	for _, m := range got {
		v := string(m.Value)
		if seen[v] {
			t.Errorf("%s delivered twice", v)
		}
		seen[v] = true
		var w, i int
		fmt.Sscanf(v, "w%d/%d", &w, &i)
		if k := string(m.Key); i != next[k] {
			t.Errorf("key %s: got %s, want sequence %d", k, v, next[k])
		} else {
			next[k]++
		}
	}
}

func testHandlerErrorRedelivers(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("retry")
	ensure(t, a, topic)
	publish(t, p, msg(topic, "k", "m0"), msg(topic, "k", "m1"), msg(topic, "k", "m2"))
	var fails atomic.Int32
	rs := subscribe(t, s, topic, "retry", func(_ context.Context, m bus.Message) error {
		if string(m.Value) == "m1" && fails.Add(1) <= 2 {
			return errors.New("transient failure")
		}
		return nil
	})
	got := values(rs.take(t, 5))
	if want := "m0,m1,m1,m1,m2"; strings.Join(got, ",") != want {
		t.Fatalf("deliveries %v, want %s (the failed message again, before anything later)", got, want)
	}
	rs.quiet(t, 300*time.Millisecond)
}

func testCrashBeforeCommit(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("crash")
	ensure(t, a, topic)
	publish(t, p, msg(topic, "k", "m0"), msg(topic, "k", "m1"), msg(topic, "k", "m2"))

	// The first member handles m0, then "crashes" while handling m1: its context is
	// cancelled and the handler never acknowledges.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var seen []string
	go func() {
		done <- s.Subscribe(ctx, topic, "crash", func(hctx context.Context, m bus.Message) error {
			seen = append(seen, string(m.Value))
			if string(m.Value) == "m1" {
				cancel()
				<-hctx.Done()
				return hctx.Err()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Subscribe = %v after cancel, want nil", err)
		}
	case <-time.After(Wait):
		t.Fatal("first member did not stop")
	}
	if strings.Join(seen, ",") != "m0,m1" {
		t.Fatalf("first member saw %v, want m0,m1", seen)
	}
	// The group's next member starts at the uncommitted m1; m0 was committed.
	rs := subscribe(t, s, topic, "crash", nil)
	if got := values(rs.take(t, 2)); strings.Join(got, ",") != "m1,m2" {
		t.Fatalf("next member got %v, want m1,m2", got)
	}
	rs.quiet(t, 300*time.Millisecond)
}

func testGroupResumes(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("resume")
	ensure(t, a, topic)
	publish(t, p, msg(topic, "k", "a0"), msg(topic, "k", "a1"))
	r1 := subscribe(t, s, topic, "resume", nil)
	r1.take(t, 2)
	r1.stop(t)
	publish(t, p, msg(topic, "k", "b0"), msg(topic, "k", "b1"))
	r2 := subscribe(t, s, topic, "resume", nil)
	if got := values(r2.take(t, 2)); strings.Join(got, ",") != "b0,b1" {
		t.Fatalf("resumed member got %v, want b0,b1 (a0,a1 were committed)", got)
	}
	r2.quiet(t, 300*time.Millisecond)
}

func testTwoGroups(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("groups")
	ensure(t, a, topic)
	var want []bus.Message
	for i := 0; i < 20; i++ {
		want = append(want, msg(topic, fmt.Sprintf("k%d", i%3), fmt.Sprintf("v%02d", i)))
	}
	publish(t, p, want[:10]...)
	ga := subscribe(t, s, topic, "group-a", nil)
	gb := subscribe(t, s, topic, "group-b", nil)
	publish(t, p, want[10:]...)
	for name, g := range map[string]*sub{"group-a": ga, "group-b": gb} {
		got := map[string]bool{}
		for _, m := range g.take(t, len(want)) {
			got[string(m.Value)] = true
		}
		if len(got) != len(want) {
			t.Errorf("%s got %d distinct messages, want %d", name, len(got), len(want))
		}
	}
}

func testSubscribeBeforeTopic(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("later")
	rs := subscribe(t, s, topic, "early", nil)
	time.Sleep(100 * time.Millisecond) // let Subscribe find no topic
	ensure(t, a, topic)
	publish(t, p, msg(topic, "k", "hello"))
	if got := values(rs.take(t, 1)); got[0] != "hello" {
		t.Fatalf("got %v, want hello", got)
	}
}

func testCancelStops(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("cancel")
	ensure(t, a, topic)

	// Idle: nothing to consume.
	idle := subscribe(t, s, topic, "idle", nil)
	time.Sleep(200 * time.Millisecond)
	idle.stop(t)

	// Busy retrying a handler that always fails.
	publish(t, p, msg(topic, "k", "poison"))
	failing := subscribe(t, s, topic, "failing", func(context.Context, bus.Message) error {
		return errors.New("always failing")
	})
	failing.take(t, 2)
	failing.stop(t)

	// Waiting for a topic that never appears.
	waiting := subscribe(t, s, newTopic("never"), "waiting", nil)
	time.Sleep(100 * time.Millisecond)
	waiting.stop(t)

	// Invalid arguments fail at once.
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := s.Subscribe(ctx, "", "g", func(context.Context, bus.Message) error { return nil }); !errs.Is(err, errs.BadRequest) {
		t.Errorf("Subscribe with empty topic = %v, want %s", err, errs.BadRequest)
	}
	if err := s.Subscribe(ctx, topic, "", func(context.Context, bus.Message) error { return nil }); !errs.Is(err, errs.BadRequest) {
		t.Errorf("Subscribe with empty group = %v, want %s", err, errs.BadRequest)
	}
}

func testLargeValues(t *testing.T, newBus NewBus) {
	p, s, a := newBus(t)
	topic := newTopic("large")
	ensure(t, a, topic)
	sizes := []int{1 << 20, 3 << 20, 6<<20 + 123}
	var want []bus.Message
	for i, n := range sizes {
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(j*7 + i)
		}
		want = append(want, bus.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: v,
			Headers: []bus.Header{{Key: "size", Value: []byte(fmt.Sprint(n))}}})
	}
	publish(t, p, want[0])
	publish(t, p, want[1:]...) // two large messages in one call
	got := subscribe(t, s, topic, "large", nil).take(t, len(want))
	for i := range want {
		if !bytes.Equal(got[i].Value, want[i].Value) || got[i].Header("size") != fmt.Sprint(sizes[i]) {
			t.Errorf("message %d: %d bytes back, want %d intact", i, len(got[i].Value), sizes[i])
		}
	}
}
