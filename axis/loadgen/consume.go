package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
	"axis/axis/bus"
	"axis/axis/errs"
)

// consumers reads the inbox topics from their end offsets as they were when start
// returned, so that only this run's deliveries are seen and none is missed.
type consumers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// startConsumers positions one reader per partition of every recipient's inbox topic
// at its current end and starts reading. It reads partitions directly, without a
// consumer group: no rebalance to wait for and no commits, so the figures are the
// axis's, not the group protocol's.
//
// Min bytes 1: a fetch answers with the first record, so no copy waits for others to
// fill a batch (that wait would be counted as the axis's latency). At a few thousand
// copies a second most fetches then carry a record or a package's few copies. Measured
// against one franz-go client fetching every partition at once (kfake, 500 packages/s
// to 3 of 13 inboxes, consumer in its own process): no saving (consumer 510-620 µs per
// package against 450-540 here, broker about equal), and only a larger min bytes made
// it cheaper, by adding ~6 ms to every latency. So the readers stay.
func startConsumers(ctx context.Context, kc agency.KafkaConfig, recipients []string, tr *tracker, log *zap.Logger) (*consumers, error) {
	positions, err := kc.Offsets()
	if err != nil {
		return nil, err
	}
	dialer, err := kc.Dialer()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumers{cancel: cancel}
	type part struct {
		recipient, topic string
		partition        int
		offset           int64
	}
	var parts []part
	for _, r := range recipients {
		topic := axis.InboxTopic(r)
		ps, err := positions.Positions(ctx, topic, "axis-loadgen")
		if err != nil {
			cancel()
			return nil, err
		}
		for _, p := range ps {
			parts = append(parts, part{r, topic, p.Partition, p.End})
		}
	}
	for _, p := range parts {
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers: kc.Brokers, Topic: p.topic, Partition: p.partition, Dialer: dialer,
			MinBytes: 1, MaxBytes: bus.MaxMessageBytes + 1<<20, MaxWait: 250 * time.Millisecond,
		})
		if err := rd.SetOffset(p.offset); err != nil {
			rd.Close()
			cancel()
			c.wg.Wait()
			return nil, errs.Wrap(errs.Internal, err, "positioning the reader of %s/%d", p.topic, p.partition)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer rd.Close()
			for {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil { // not our own stop
						c.fail(errs.Wrap(errs.Unavailable, err, "reading %s/%d", p.topic, p.partition))
					}
					return
				}
				at := time.Now()
				sha := ""
				for _, h := range m.Headers {
					if h.Key == axis.HeaderSHA256 {
						sha = string(h.Value)
						break
					}
				}
				if sha == "" {
					log.Debug("inbox message without axis-sha256", zap.String("topic", p.topic), zap.Int64("offset", m.Offset))
					continue
				}
				tr.arrive(p.recipient, sha, at, m.Time)
			}
		}()
	}
	return c, nil
}

func (c *consumers) fail(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// stop ends the readers and returns the first read error, if any.
func (c *consumers) stop() error {
	c.cancel()
	c.wg.Wait()
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}
