package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
	"axis/axis/bus"
	"axis/axis/errs"
)

// consumers reads the inbox topics from their end offsets as they were when start
// returned, so that only this run's deliveries are seen and none is missed.
type consumers struct {
	tr     *kafka.Transport
	addr   net.Addr
	track  *tracker
	log    *zap.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// part is one partition read, and the next offset to read in it.
type part struct {
	recipient, topic string
	id               int32
	offset           int64
}

// fetchWait is the long poll: a fetch is answered as soon as one partition has a record,
// or after this.
const fetchWait = 250 * time.Millisecond

// startConsumers positions a reader at the current end of every partition of every
// recipient's inbox topic and starts reading. It reads partitions directly, without a
// consumer group: no rebalance to wait for and no commits, so the figures are the
// axis's, not the group protocol's.
//
// One fetch request per partition leader carries every partition, as Kafka's own
// consumers do (kafka-go's Reader fetches each partition on its own: 13 requests and
// answers for a page of deliveries that touches 13 inboxes, each work for the broker
// and this process, which share the machine with the axis). Min bytes 1: a fetch
// answers with the first record, so no copy waits for others to fill a batch (that
// wait would be counted as the axis's latency).
func startConsumers(ctx context.Context, kc agency.KafkaConfig, recipients []string, tr *tracker, log *zap.Logger) (*consumers, error) {
	if len(kc.Brokers) == 0 {
		return nil, errs.E(errs.BadRequest, "no Kafka brokers to read the inboxes from")
	}
	positions, err := kc.Offsets()
	if err != nil {
		return nil, err
	}
	transport, err := kc.Transport(time.Second)
	if err != nil {
		return nil, err
	}
	if cl, ok := positions.(io.Closer); ok {
		defer cl.Close()
	}
	var parts []*part
	for _, r := range recipients {
		topic := axis.InboxTopic(r)
		ps, err := positions.Positions(ctx, topic, "axis-loadgen")
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			parts = append(parts, &part{r, topic, int32(p.Partition), p.End})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumers{tr: transport, addr: kafka.TCP(kc.Brokers...), track: tr, log: log, cancel: cancel}
	if len(parts) > 0 {
		c.start(ctx, parts)
	}
	return c, nil
}

func (c *consumers) start(ctx context.Context, parts []*part) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop(ctx, parts)
	}()
}

// loop fetches parts until ctx ends. Fetch requests go to the leader of their
// partitions: when the leaders of parts differ (at start, or after a move), loop keeps
// one leader's and hands each other leader's to a loop of its own.
func (c *consumers) loop(ctx context.Context, parts []*part) {
	failing := time.Time{} // since when every fetch failed
	for ctx.Err() == nil {
		groups, err := c.byLeader(ctx, parts)
		if err == nil && len(groups) > 1 {
			parts = groups[0]
			for _, g := range groups[1:] {
				c.start(ctx, g)
			}
		}
		if err == nil {
			err = c.fetch(ctx, parts)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			failing = time.Time{}
			continue
		case failing.IsZero():
			failing = time.Now()
		case time.Since(failing) > 30*time.Second:
			c.fail(errs.Wrap(errs.Unavailable, err, "reading the inboxes"))
			return
		}
		c.log.Debug("fetching the inboxes failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// byLeader groups parts by the leader the transport's cached metadata names (the same
// view that routes the fetch).
func (c *consumers) byLeader(ctx context.Context, parts []*part) ([][]*part, error) {
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.topic) {
			topics = append(topics, p.topic)
		}
	}
	r, err := c.tr.RoundTrip(ctx, c.addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, err
	}
	leader := map[string]map[int32]int32{}
	for _, t := range r.(*metadataAPI.Response).Topics {
		leader[t.Name] = map[int32]int32{}
		for _, p := range t.Partitions {
			leader[t.Name][p.PartitionIndex] = p.LeaderID
		}
	}
	var order []int32
	groups := map[int32][]*part{}
	for _, p := range parts {
		l, ok := leader[p.topic][p.id]
		if !ok || l < 0 {
			return nil, fmt.Errorf("%s/%d: %w", p.topic, p.id, kafka.LeaderNotAvailable)
		}
		if _, seen := groups[l]; !seen {
			order = append(order, l)
		}
		groups[l] = append(groups[l], p)
	}
	out := make([][]*part, len(order))
	for i, l := range order {
		out[i] = groups[l]
	}
	return out, nil
}

// fetch sends one fetch request for parts (one leader's) and records what arrived.
func (c *consumers) fetch(ctx context.Context, parts []*part) error {
	req := &fetchAPI.Request{ReplicaID: -1, MaxWaitTime: int32(fetchWait / time.Millisecond), MinBytes: 1,
		MaxBytes: bus.MaxMessageBytes + 1<<20, SessionID: -1, SessionEpoch: -1}
	type key struct {
		topic string
		id    int32
	}
	byKey := map[key]*part{}
	topicAt := map[string]int{}
	for _, p := range parts {
		ti, ok := topicAt[p.topic]
		if !ok {
			ti = len(req.Topics)
			topicAt[p.topic] = ti
			req.Topics = append(req.Topics, fetchAPI.RequestTopic{Topic: p.topic})
		}
		t := &req.Topics[ti]
		t.Partitions = append(t.Partitions, fetchAPI.RequestPartition{Partition: p.id, CurrentLeaderEpoch: -1,
			FetchOffset: p.offset, LogStartOffset: -1, PartitionMaxBytes: bus.MaxMessageBytes + 1<<20})
		byKey[key{p.topic, p.id}] = p
	}
	r, err := c.tr.RoundTrip(ctx, c.addr, req)
	if err != nil {
		return err
	}
	resp, ok := r.(*fetchAPI.Response)
	if !ok {
		return fmt.Errorf("unexpected answer %T to a fetch", r)
	}
	if resp.ErrorCode != 0 {
		return kafka.Error(resp.ErrorCode)
	}
	var firstErr error
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := byKey[key{t.Topic, rp.Partition}]
			if p == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s/%d: %w", p.topic, p.id, kafka.Error(rp.ErrorCode))
				}
				continue
			}
			if err := c.read(p, rp.RecordSet.Records); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// read records the copies of a partition's fetched records.
func (c *consumers) read(p *part, rr protocol.RecordReader) error {
	if rr == nil {
		return nil
	}
	at := time.Now()
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s/%d at %d: %w", p.topic, p.id, p.offset, err)
		}
		for _, b := range []protocol.Bytes{r.Key, r.Value} {
			if b != nil {
				b.Close() // only the headers are read
			}
		}
		if r.Offset < p.offset { // a batch may start before the offset asked for
			continue
		}
		p.offset = r.Offset + 1
		sha := ""
		for _, h := range r.Headers {
			if h.Key == axis.HeaderSHA256 {
				sha = string(h.Value)
				break
			}
		}
		if sha == "" {
			c.log.Debug("inbox message without axis-sha256", zap.String("topic", p.topic), zap.Int64("offset", r.Offset))
			continue
		}
		c.track.arrive(p.recipient, sha, at, r.Time)
	}
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
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}
