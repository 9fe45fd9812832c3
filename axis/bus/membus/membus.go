// Package membus is an in-memory bus.Bus with Kafka's semantics, for fast tests of the
// daemon: every topic is one ordered log (one partition), consumer groups keep
// committed offsets, a group's partition is consumed by one member at a time, and what
// a member did not commit is redelivered to the group's next member.
package membus

import (
	"bytes"
	"context"
	"sync"
	"time"

	"axis/axis/bus"
	"axis/axis/bus/internal/backoff"
	"axis/axis/errs"
)

// Options tune a Bus. The zero value is usable.
type Options struct {
	// RetryMin and RetryMax bound the backoff before a message whose handler failed
	// is delivered again (defaults 10 ms and 1 s).
	RetryMin, RetryMax time.Duration
}

// Bus is an in-memory bus. It is safe for concurrent use.
type Bus struct {
	retry backoff.Policy

	mu      sync.Mutex
	topics  map[string]*topic
	changed chan struct{} // closed and replaced whenever a log grows, a topic appears or a group frees up
	closed  chan struct{}
	isDone  bool
}

type topic struct {
	log    []bus.Message
	groups map[string]*group
}

type group struct {
	next  int64 // committed offset: the next message to deliver
	owned bool  // a member holds the partition
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty bus.
func New(o Options) *Bus {
	if o.RetryMin <= 0 {
		o.RetryMin = 10 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(time.Second, o.RetryMin)
	}
	return &Bus{
		retry:   backoff.Policy{Min: o.RetryMin, Max: o.RetryMax},
		topics:  make(map[string]*topic),
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// broadcast wakes every waiter; b.mu must be held.
func (b *Bus) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// EnsureTopics implements bus.Admin.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	for _, t := range topics {
		if err := bus.CheckTopic(t); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isDone {
		return errClosed()
	}
	for _, t := range topics {
		if b.topics[t] == nil {
			b.topics[t] = &topic{groups: make(map[string]*group)}
		}
	}
	b.broadcast()
	return nil
}

// Publish implements bus.Publisher. The whole call is appended atomically, so order is
// kept across keys as well; the bus keeps its own copies of the bytes.
func (b *Bus) Publish(ctx context.Context, msgs ...bus.Message) error {
	if err := ctx.Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "publish cancelled")
	}
	for _, m := range msgs {
		if err := bus.CheckTopic(m.Topic); err != nil {
			return err
		}
		if n := m.Size(); n > bus.MaxMessageBytes {
			return errs.E(errs.TooLarge, "message of %d bytes exceeds the bus limit of %d", n, bus.MaxMessageBytes)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isDone {
		return errClosed()
	}
	for _, m := range msgs {
		if b.topics[m.Topic] == nil {
			return errs.Wrap(errs.Unavailable, bus.ErrUnknownTopic, "topic %q does not exist (create it first)", m.Topic)
		}
	}
	now := time.Now().UTC()
	for _, m := range msgs {
		t := b.topics[m.Topic]
		c := clone(m)
		c.Partition, c.Offset, c.Time = 0, int64(len(t.log)), now
		t.log = append(t.log, c)
	}
	b.broadcast()
	return nil
}

// Subscribe implements bus.Subscriber.
func (b *Bus) Subscribe(ctx context.Context, topicName, groupID string, h bus.Handler) error {
	if err := bus.CheckTopic(topicName); err != nil {
		return err
	}
	if err := bus.CheckGroup(groupID); err != nil {
		return err
	}
	if h == nil {
		return errs.E(errs.BadRequest, "nil handler")
	}
	g, ok := b.join(ctx, topicName, groupID)
	if !ok {
		return nil
	}
	defer b.leave(g)

	for attempt := 0; ; {
		m, ok := b.next(ctx, topicName, g)
		if !ok {
			return nil
		}
		if err := h(ctx, m); err != nil {
			// Not acknowledged: the same message comes again after a backoff,
			// before anything later, as with Kafka's per-partition commit.
			if !backoff.Sleep(ctx, b.retry.Delay(attempt)) || b.done() {
				return nil
			}
			attempt++
			continue
		}
		attempt = 0
		b.mu.Lock()
		g.next = m.Offset + 1
		b.mu.Unlock()
	}
}

// join waits for the topic to exist and for the group's partition to be free, then
// takes it. It reports false if ctx ended or the bus closed first.
func (b *Bus) join(ctx context.Context, topicName, groupID string) (*group, bool) {
	for {
		b.mu.Lock()
		if b.isDone {
			b.mu.Unlock()
			return nil, false
		}
		if t := b.topics[topicName]; t != nil {
			g := t.groups[groupID]
			if g == nil {
				g = &group{}
				t.groups[groupID] = g
			}
			if !g.owned {
				g.owned = true
				b.mu.Unlock()
				return g, true
			}
		}
		ch := b.changed
		b.mu.Unlock()
		if !b.wait(ctx, ch) {
			return nil, false
		}
	}
}

func (b *Bus) leave(g *group) {
	b.mu.Lock()
	g.owned = false
	b.broadcast()
	b.mu.Unlock()
}

// next waits for the message at the group's committed offset and returns a copy.
func (b *Bus) next(ctx context.Context, topicName string, g *group) (bus.Message, bool) {
	for {
		if ctx.Err() != nil {
			return bus.Message{}, false
		}
		b.mu.Lock()
		if b.isDone {
			b.mu.Unlock()
			return bus.Message{}, false
		}
		t := b.topics[topicName]
		if g.next < int64(len(t.log)) {
			m := clone(t.log[g.next])
			b.mu.Unlock()
			return m, true
		}
		ch := b.changed
		b.mu.Unlock()
		if !b.wait(ctx, ch) {
			return bus.Message{}, false
		}
	}
}

func (b *Bus) wait(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-b.closed:
		return false
	case <-ch:
		return true
	}
}

func (b *Bus) done() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// Ping reports whether the bus is open.
func (b *Bus) Ping(context.Context) error {
	if b.done() {
		return errClosed()
	}
	return nil
}

// Close stops running subscriptions; later calls fail. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.isDone {
		b.isDone = true
		close(b.closed)
	}
	return nil
}

// Messages returns copies of everything published to topic so far, for assertions
// in tests of code built on the bus.
func (b *Bus) Messages(topicName string) []bus.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topicName]
	if t == nil {
		return nil
	}
	out := make([]bus.Message, len(t.log))
	for i, m := range t.log {
		out[i] = clone(m)
	}
	return out
}

func errClosed() error { return errs.E(errs.Unavailable, "bus closed") }

func clone(m bus.Message) bus.Message {
	c := m
	c.Key = bytes.Clone(m.Key)
	c.Value = bytes.Clone(m.Value)
	if m.Headers != nil {
		c.Headers = make([]bus.Header, len(m.Headers))
		for i, h := range m.Headers {
			c.Headers[i] = bus.Header{Key: h.Key, Value: bytes.Clone(h.Value)}
		}
	}
	return c
}
