package agency

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"axis/axis/bus"
)

// Position is where a consumer group stands on one partition.
type Position struct {
	Partition int
	Start     int64 // oldest offset still in the log
	End       int64 // the offset the next message will get (high-water mark)
	Committed int64 // the group's next offset to read; -1 if it never committed
}

// Next is the offset the group reads next: its commit, or the log start without one
// (the bus starts groups at the oldest message).
func (p Position) Next() int64 {
	if p.Committed < p.Start {
		return p.Start
	}
	return p.Committed
}

// Positions tells how far a consumer group is behind on a topic.
type Positions interface {
	Positions(ctx context.Context, topic, group string) ([]Position, error)
}

// ConsumeOptions configures Consume.
type ConsumeOptions struct {
	Topic, Group string
	// Follow consumes until ctx ends. Otherwise Consume stops once every message that was
	// in the topic when it started has been handled and committed.
	Follow bool
	// Positions is required without Follow.
	Positions Positions
	// Poll is how often the group's progress is checked without Follow (default 500 ms).
	Poll   time.Duration
	Logger *zap.Logger
}

// Consume subscribes h to the topic as the group. Without Follow it first takes the
// topic's end offsets: nothing pending returns at once (without joining the group), and
// otherwise it returns once the group committed up to those ends. Offsets are committed
// by the subscriber after h returns nil, so a message is acknowledged only once it is
// written and answered.
func Consume(ctx context.Context, sub bus.Subscriber, h bus.Handler, o ConsumeOptions) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Follow {
		return sub.Subscribe(ctx, o.Topic, o.Group, h)
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	start, err := o.Positions.Positions(ctx, o.Topic, o.Group)
	if err != nil {
		return err
	}
	target := map[int]int64{} // partition -> end offset to reach
	for _, p := range start {
		if p.Next() < p.End {
			target[p.Partition] = p.End
		}
	}
	o.Logger.Debug("inbox position", zap.Any("positions", start), zap.Int("partitions_behind", len(target)))
	if len(target) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	done := map[int]int64{}
	caughtUp := func() bool {
		for p, end := range target {
			if done[p] < end {
				return false
			}
		}
		return true
	}
	wrapped := func(hctx context.Context, m bus.Message) error {
		if err := h(hctx, m); err != nil {
			return err
		}
		mu.Lock()
		if m.Offset+1 > done[m.Partition] {
			done[m.Partition] = m.Offset + 1
		}
		finished := caughtUp()
		mu.Unlock()
		if finished {
			// The subscriber still commits this message (its commit ignores the
			// cancellation), then returns.
			cancel()
		}
		return nil
	}
	// The group's commits are the truth (offsets may have gaps, e.g. transaction
	// markers, that no handler sees): poll them too.
	go func() {
		t := time.NewTicker(o.Poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now, err := o.Positions.Positions(ctx, o.Topic, o.Group)
			if err != nil {
				continue
			}
			mu.Lock()
			for _, p := range now {
				if p.Committed > done[p.Partition] {
					done[p.Partition] = p.Committed
				}
			}
			finished := caughtUp()
			mu.Unlock()
			if finished {
				cancel()
				return
			}
		}
	}()
	return sub.Subscribe(ctx, o.Topic, o.Group, wrapped)
}
