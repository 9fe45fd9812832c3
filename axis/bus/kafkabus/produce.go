package kafkabus

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// The producer sends a Publish call's messages in one produce request per partition
// leader, through kafka-go's transport. kafka-go's Writer sends one request per
// partition: a page of the outbox for 3 recipients of each package touches every inbox
// topic, so ~13 requests per page on the sample registry, each a round of goroutines,
// batch timers, syscalls and broker work. Measured on this machine (a page of 36 copies
// of 5.5 KB to 13 topics, embedded broker): 2.8 ms of CPU and 2.5 ms per page through
// the Writer, 1.2 ms and 1.1 ms this way (BenchmarkPublishPage).
//
// What the Writer gave is kept: acks from all in-sync replicas, no topic auto-creation,
// the Java client's partition for a key (murmur2), the call's order within a partition,
// and record batches no larger than the broker accepts (a partition's messages beyond
// one batch go in a later request, sent only once the earlier one is acknowledged).

// partKey names a topic's partition.
type partKey struct {
	topic string
	id    int32
}

// chunk is one record batch: messages of one partition, in the call's order.
type chunk struct {
	q     *partQueue // its partition's
	idx   []int      // indexes into the call's messages
	bytes int
}

// partQueue is one partition's chunks still to send, in order.
type partQueue struct {
	part   partKey
	chunks []*chunk
}

// fail gives err to the messages of the chunks still to send, and drops them.
func (q *partQueue) fail(out []error, err error) {
	for _, c := range q.chunks {
		for _, i := range c.idx {
			out[i] = err
		}
	}
	q.chunks = nil
}

// produce sends msgs and returns, for each, nil if every in-sync replica has it, or why
// not. Messages of a partition whose earlier batch failed are not sent (their order
// would break) and carry the same error.
func (b *Bus) produce(ctx context.Context, msgs []kafka.Message) []error {
	out := make([]error, len(msgs))
	leaders, err := b.route(ctx, msgs, out)
	if err != nil {
		for i := range out {
			out[i] = err
		}
		return out
	}
	if len(leaders) == 1 {
		for _, qs := range leaders {
			b.sendToLeader(ctx, msgs, qs, out)
		}
		return out
	}
	var wg sync.WaitGroup
	for _, qs := range leaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.sendToLeader(ctx, msgs, qs, out) // each leader writes only its messages' slots
		}()
	}
	wg.Wait()
	return out
}

// route assigns each message its partition (from the transport's cached metadata) and
// groups the partitions by leader. Messages that cannot be routed get their error in out.
func (b *Bus) route(ctx context.Context, msgs []kafka.Message, out []error) (map[int32][]*partQueue, error) {
	var topics []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if !seen[m.Topic] {
			seen[m.Topic] = true
			topics = append(topics, m.Topic)
		}
	}
	// Served from the transport's cache (refreshed every MetadataTTL): no round trip.
	r, err := b.transport.RoundTrip(ctx, b.client.Addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, err
	}
	type topicRoute struct {
		err    error
		ids    []int
		leader map[int32]int32
	}
	routes := map[string]*topicRoute{}
	for _, t := range r.(*metadataAPI.Response).Topics {
		tr := &topicRoute{err: codeError(t.ErrorCode, ""), leader: map[int32]int32{}}
		for _, p := range t.Partitions {
			tr.ids = append(tr.ids, int(p.PartitionIndex))
			tr.leader[p.PartitionIndex] = p.LeaderID
		}
		if tr.err == nil && len(tr.ids) == 0 {
			tr.err = kafka.UnknownTopicOrPartition
		}
		slices.Sort(tr.ids) // the balancer indexes into the sorted list, as in the Writer
		routes[t.Name] = tr
	}
	leaders := map[int32][]*partQueue{}
	queues := map[partKey]*partQueue{}
	limit := b.batchTarget()
	for i, m := range msgs {
		tr := routes[m.Topic]
		switch {
		case tr == nil:
			out[i] = kafka.UnknownTopicOrPartition
			continue
		case tr.err != nil:
			out[i] = tr.err
			continue
		}
		id := int32(b.balancer.Balance(m, tr.ids...))
		leader := tr.leader[id]
		if leader < 0 {
			out[i] = kafka.LeaderNotAvailable
			continue
		}
		pk := partKey{m.Topic, id}
		q := queues[pk]
		if q == nil {
			q = &partQueue{part: pk}
			queues[pk] = q
			leaders[leader] = append(leaders[leader], q)
		}
		size := recordSize(m)
		if n := len(q.chunks); n == 0 || q.chunks[n-1].bytes+size > limit {
			q.chunks = append(q.chunks, &chunk{q: q})
		}
		c := q.chunks[len(q.chunks)-1]
		c.idx = append(c.idx, i)
		c.bytes += size
	}
	return leaders, nil
}

// sendToLeader sends the partitions' chunks to their leader: each request carries the
// next chunk of every partition, up to batchBytes in all (a single chunk may fill it).
func (b *Bus) sendToLeader(ctx context.Context, msgs []kafka.Message, qs []*partQueue, out []error) {
	limit := b.batchBytes()
	for {
		if err := ctx.Err(); err != nil {
			for _, q := range qs {
				q.fail(out, err)
			}
			return
		}
		var sent []*chunk
		size := 0
		for _, q := range qs {
			if len(q.chunks) == 0 {
				continue
			}
			c := q.chunks[0]
			if len(sent) > 0 && size+c.bytes > limit {
				continue
			}
			sent = append(sent, c)
			size += c.bytes
			q.chunks = q.chunks[1:]
		}
		if len(sent) == 0 {
			return
		}
		failed := b.sendChunks(ctx, msgs, sent)
		for _, c := range sent {
			err := failed[c.q.part]
			if err != nil && isTooLarge(err) && len(c.idx) > 1 {
				// A topic whose max.message.bytes is below our batches (created by an
				// operator, e.g. with Kafka's default of 1 MiB): nothing was appended, so
				// send each half in turn, first, as the Java producer does.
				delete(failed, c.q.part)
				half := len(c.idx) / 2
				a, z := &chunk{q: c.q, idx: c.idx[:half]}, &chunk{q: c.q, idx: c.idx[half:]}
				for _, i := range a.idx {
					a.bytes += recordSize(msgs[i])
				}
				z.bytes = c.bytes - a.bytes
				c.q.chunks = append([]*chunk{a, z}, c.q.chunks...)
				continue
			}
			for _, i := range c.idx {
				out[i] = err
			}
		}
		// A failed partition's later chunks stay unsent, with its error.
		for _, c := range sent {
			if err, ok := failed[c.q.part]; ok {
				c.q.fail(out, err)
			}
		}
	}
}

// sendChunks sends one produce request and returns the partitions that failed.
func (b *Bus) sendChunks(ctx context.Context, msgs []kafka.Message, chunks []*chunk) map[partKey]error {
	req := &produceAPI.Request{Acks: int16(kafka.RequireAll), Timeout: b.ackTimeoutMs(ctx)}
	topicAt := map[string]int{}
	for _, c := range chunks {
		ti, ok := topicAt[c.q.part.topic]
		if !ok {
			ti = len(req.Topics)
			topicAt[c.q.part.topic] = ti
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: c.q.part.topic})
		}
		records := make([]protocol.Record, len(c.idx))
		for j, i := range c.idx {
			records[j] = toRecord(msgs[i])
		}
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, produceAPI.RequestPartition{
			Partition: c.q.part.id,
			RecordSet: protocol.RecordSet{Records: protocol.NewRecordReader(records...)},
		})
	}
	failed := map[partKey]error{}
	failAll := func(err error) map[partKey]error {
		for _, c := range chunks {
			failed[c.q.part] = err
		}
		return failed
	}
	r, err := b.transport.RoundTrip(ctx, b.client.Addr, req)
	if err != nil {
		return failAll(err)
	}
	resp, ok := r.(*produceAPI.Response)
	if !ok {
		return failAll(fmt.Errorf("unexpected answer %T to a produce request", r))
	}
	answered := map[partKey]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			pk := partKey{t.Topic, p.Partition}
			answered[pk] = true
			if err := codeError(p.ErrorCode, p.ErrorMessage); err != nil {
				failed[pk] = err
			}
		}
	}
	for _, c := range chunks {
		if !answered[c.q.part] {
			failed[c.q.part] = fmt.Errorf("the broker did not answer for %s/%d", c.q.part.topic, c.q.part.id)
		}
	}
	return failed
}

// batchBytes bounds one record batch, and one request (except a lone larger batch):
// room for the framing of a message of MaxMessageBytes. Topics are created with
// max.message.bytes above it (EnsureTopics).
func (b *Bus) batchBytes() int { return b.cfg.MaxMessageBytes + 64<<10 }

// batchTarget is how many bytes of messages a record batch collects before the next
// begins (a larger message goes alone): below Kafka's default max.message.bytes
// (1 MiB + 12), so that topics created by others with it take our batches too.
func (b *Bus) batchTarget() int { return min(1<<20-4<<10, b.batchBytes()) }

// ackTimeoutMs is how long the leader may wait for the in-sync replicas: IOTimeout, and
// a tenth less than ctx's deadline leaves (at most a second less), so that a broker
// short of replicas answers REQUEST_TIMED_OUT before this side gives up.
func (b *Bus) ackTimeoutMs(ctx context.Context) int32 {
	d := b.cfg.IOTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		d = min(d, left-min(left/10, time.Second))
	}
	return int32(min(max(d.Milliseconds(), 1), math.MaxInt32))
}

// recordSize estimates a message's bytes in a record batch (varint framing included).
func recordSize(m kafka.Message) int {
	n := 32 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

func toRecord(m kafka.Message) protocol.Record {
	return protocol.Record{Time: m.Time, Key: protocol.NewBytes(m.Key), Value: protocol.NewBytes(m.Value), Headers: m.Headers}
}

// codeError is the error of a Kafka error code (nil for 0), with the broker's message.
func codeError(code int16, msg string) error {
	if code == 0 {
		return nil
	}
	err := kafka.Error(code)
	if msg != "" && msg != err.Error() {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}
