package axis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/errs"
	"axis/store"
)

// Kafka headers of SPEC §8.
const (
	HeaderType       = "axis-type"
	HeaderDocumentID = "axis-document-id"
	HeaderFrom       = "axis-from"
	HeaderSHA256     = "axis-sha256"
	HeaderAcceptedAt = "axis-accepted-at"
	HeaderAuditSeq   = "axis-audit-seq"
	HeaderErrorCode  = "axis-error-code"
	HeaderError      = "axis-error"
)

const (
	outboxPage      = 1024
	outboxPageBytes = 16 << 20 // keeps one batch's memory bounded with large packages
	// auditPage keeps an audit Publish to one record batch (audit lines are small), which
	// a partition appends whole or not at all.
	auditPage = 100
	retryMin  = 100 * time.Millisecond
	// retryMax is Kafka's own clients' retry.backoff.max.ms and reconnect.backoff.max.ms:
	// after an outage the backlog goes out within a second of the broker's return (with
	// 5 s it waited up to 5 s), and a refused connection a second costs nothing.
	retryMax = time.Second
)

// backoff doubles a delay up to retryMax.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = retryMin
	} else if b.d *= 2; b.d > retryMax {
		b.d = retryMax
	}
	return b.d
}
func (b *backoff) reset() { b.d = 0 }

// sleep waits d or until ctx is done; false if ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// wakeup is a level-triggered signal: many wakes before a wait count as one.
type wakeup chan struct{}

func newWakeup() wakeup { return make(chan struct{}, 1) }
func (w wakeup) wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// wait returns when woken, after d, or when ctx is done (false).
func (w wakeup) wait(ctx context.Context, d time.Duration) bool {
	_, ok := w.waitWoken(ctx, d)
	return ok
}

// waitWoken is wait that also tells whether it was woken (rather than timed out).
func (w wakeup) waitWoken(ctx context.Context, d time.Duration) (woken, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-w:
		return true, true
	case <-t.C:
		return false, true
	}
}

// dispatcher moves the store's outbox to the inbox topics: it publishes the oldest
// pending deliveries, and marks them published only once Kafka acknowledged them
// (at least once: a crash between the two publishes them again; recipients dedupe by
// axis-sha256). Broker outages are retried with backoff, forever.
type dispatcher struct {
	store *store.Store
	pub   bus.Publisher
	log   *zap.Logger
	m     *metrics
	wake  wakeup
	audit wakeup // MarkPublished writes audit events
	// ensure creates topics again (the bus's EnsureTopics): an inbox topic deleted while
	// the axis runs would otherwise hold up every delivery behind it. Nil: never.
	ensure func(ctx context.Context, topics ...string) error

	// refused holds the outbox entries Kafka refused for good (too large for the topic,
	// invalid) and when: they stay pending and are tried again after refusedRetry, but
	// never hold up the rest of the outbox meanwhile.
	refused map[uint64]time.Time
}

// refusedRetry is how long a delivery Kafka refused waits before it is tried again
// (the operator may have fixed the topic's configuration).
const refusedRetry = time.Minute

// run publishes until stop is done. Publishing and marking are pipelined: while the
// store records one page as published, the next is already on its way to Kafka (in
// turn, each waited for the other: measured, the dispatcher then fell behind intake).
// A page in flight still completes, and its marking too (both end only with work), so
// that the shutdown's final flush never runs beside them.
func (d *dispatcher) run(stop, work context.Context) {
	mk := newMarker(d)
	go mk.run(work)
	defer mk.close()
	var bo backoff
	var cursor uint64 // entries up to here were handed to the marker
	lastScan := time.Now()
	for stop.Err() == nil {
		// Entries behind the cursor are only those Kafka refused: rescan from the start
		// once in a while (and whenever idle), after the marker caught up, so that they
		// are tried again and nothing handed over is sent twice.
		if cursor != 0 && len(d.refused) > 0 && time.Since(lastScan) >= refusedRetry {
			mk.wait()
			cursor, lastScan = 0, time.Now()
		}
		n, last, err := d.publishPage(work, cursor, mk)
		switch {
		case stop.Err() != nil:
			return
		case err != nil:
			mk.wait()
			cursor, lastScan = 0, time.Now()
			wait := bo.next()
			d.log.Warn("publishing deliveries failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
			if !sleep(stop, wait) {
				return
			}
		case n > 0:
			bo.reset()
			cursor = last
		default:
			bo.reset()
			woken, ok := d.wake.waitWoken(stop, time.Second)
			if !ok {
				return
			}
			if !woken && cursor != 0 {
				// Idle for a second: from the start again once the marker is done.
				mk.wait()
				cursor, lastScan = 0, time.Now()
			}
		}
	}
}

// publishPage publishes the next page after cursor and hands what Kafka acknowledged to
// the marker. It returns how many entries it read and the last one's id.
func (d *dispatcher) publishPage(ctx context.Context, cursor uint64, mk *marker) (int, uint64, error) {
	entries, ids, start, pubErr := d.sendPage(ctx, cursor)
	if len(entries) == 0 {
		return 0, 0, pubErr
	}
	if len(ids) > 0 {
		d.m.publish.WithLabelValues("deliveries").Observe(time.Since(start).Seconds())
		mk.add(entries, ids)
	}
	return len(entries), entries[len(entries)-1].ID, pubErr
}

// sendPage publishes the next page of the outbox after cursor: the entries read, the ids
// Kafka acknowledged, and when publishing started.
func (d *dispatcher) sendPage(ctx context.Context, cursor uint64) ([]store.OutboxEntry, []uint64, time.Time, error) {
	entries, err := d.pendingAfter(ctx, cursor)
	if err != nil || len(entries) == 0 {
		return nil, nil, time.Time{}, err
	}
	entries = d.limitBytes(entries)
	msgs := make([]bus.Message, len(entries))
	for i, e := range entries {
		msgs[i] = deliveryMessage(e)
	}
	start := time.Now()
	ids, err := d.publish(ctx, entries, msgs)
	return entries, ids, start, err
}

// limitBytes keeps a page's memory bounded with large packages.
func (d *dispatcher) limitBytes(entries []store.OutboxEntry) []store.OutboxEntry {
	size := 0
	for i, e := range entries {
		size += len(e.Value)
		if size > outboxPageBytes && i > 0 {
			d.wake.wake() // the rest is waiting: no pause before the next page
			return entries[:i]
		}
	}
	return entries
}

// marker records published pages in the store, coalescing those that queue up into one
// write, and retries until the store takes them.
type marker struct {
	d        *dispatcher
	pages    chan markPage
	inflight sync.WaitGroup
	done     chan struct{}
}

type markPage struct {
	entries []store.OutboxEntry
	ids     []uint64
}

func newMarker(d *dispatcher) *marker {
	return &marker{d: d, pages: make(chan markPage, 8), done: make(chan struct{})}
}

func (mk *marker) add(entries []store.OutboxEntry, ids []uint64) {
	mk.inflight.Add(1)
	mk.pages <- markPage{entries, ids}
}

// wait returns once every page handed over is marked (or given up at shutdown).
func (mk *marker) wait() { mk.inflight.Wait() }

// close lets the marker finish what it was given, then stops it.
func (mk *marker) close() {
	close(mk.pages)
	<-mk.done
}

func (mk *marker) run(work context.Context) {
	defer close(mk.done)
	d := mk.d
	for p := range mk.pages {
		batch := []markPage{p}
	more:
		for len(batch) < cap(mk.pages) {
			select {
			case q, ok := <-mk.pages:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		var ids []uint64
		for _, q := range batch {
			ids = append(ids, q.ids...)
		}
		var bo backoff
		for {
			start := time.Now()
			err := d.store.MarkPublished(work, ids...)
			if err == nil {
				d.m.storeCommit.WithLabelValues("published").Observe(time.Since(start).Seconds())
				break
			}
			if work.Err() != nil { // shutdown past its deadline: the next start sends these again
				break
			}
			wait := bo.next()
			d.log.Warn("recording published deliveries failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
			if !sleep(work, wait) {
				break
			}
		}
		for _, q := range batch {
			d.countSent(q.entries, q.ids)
			mk.inflight.Done()
		}
		d.audit.wake()
	}
}

// countSent updates the metrics and debug log for the ids of entries that were sent.
func (d *dispatcher) countSent(entries []store.OutboxEntry, ids []uint64) {
	sent := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		sent[id] = true
	}
	for _, e := range entries {
		if sent[e.ID] {
			d.m.published.WithLabelValues(e.Kind).Inc()
			d.log.Debug("delivered", zap.String("document_id", e.DocumentID), zap.String("to", e.Recipient),
				zap.String("kind", e.Kind), zap.String("code", e.Code))
		}
	}
}

// pendingAfter reads the first page of the outbox after the given id that holds entries
// to try, skipping the ones Kafka refused recently.
func (d *dispatcher) pendingAfter(ctx context.Context, after uint64) ([]store.OutboxEntry, error) {
	for {
		page, err := d.store.PendingDeliveries(ctx, after, outboxPage)
		if err != nil || len(page) == 0 {
			return nil, err
		}
		entries := page[:0:0]
		for _, e := range page {
			if at, ok := d.refused[e.ID]; !ok || time.Since(at) >= refusedRetry {
				entries = append(entries, e)
			}
		}
		if len(entries) > 0 || len(page) < outboxPage {
			return entries, nil
		}
		after = page[len(page)-1].ID
	}
}

// publish sends the messages in one call; if Kafka refuses it for good, it sends them
// one by one so that only the refused ones stay behind. It returns the ids sent.
func (d *dispatcher) publish(ctx context.Context, entries []store.OutboxEntry, msgs []bus.Message) ([]uint64, error) {
	ids := make([]uint64, 0, len(entries))
	err := d.pub.Publish(ctx, msgs...)
	if errors.Is(err, bus.ErrUnknownTopic) && d.ensure != nil {
		topics := map[string]bool{}
		var list []string
		for _, m := range msgs {
			if !topics[m.Topic] {
				topics[m.Topic] = true
				list = append(list, m.Topic)
			}
		}
		// Topics that exist are left as they are: only the missing one is created.
		if cerr := d.ensure(ctx, list...); cerr != nil {
			d.log.Error("an inbox topic is missing and could not be created again", zap.Error(cerr))
		} else {
			d.log.Warn("an inbox topic was missing (deleted?); created again", zap.Strings("topics", list), zap.Error(err))
			err = d.pub.Publish(ctx, msgs...)
		}
	}
	if err == nil {
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		return ids, nil
	}
	if errs.CodeOf(err).Transient() || len(msgs) == 0 {
		return nil, err
	}
	for i, e := range entries {
		err := d.pub.Publish(ctx, msgs[i])
		switch {
		case err == nil:
			ids = append(ids, e.ID)
			delete(d.refused, e.ID)
		case errs.CodeOf(err).Transient():
			return ids, err
		default:
			if d.refused == nil {
				d.refused = map[uint64]time.Time{}
			}
			d.refused[e.ID] = time.Now()
			d.log.Error("Kafka refused a delivery; it stays in the outbox and is retried later (check the topic's configuration: max.message.bytes, policies, message.timestamp.*)",
				zap.String("document_id", e.DocumentID), zap.String("to", e.Recipient), zap.Int("bytes", len(e.Value)),
				zap.Duration("retry_in", refusedRetry), zap.Error(err))
		}
	}
	return ids, nil
}

// once publishes one page of the outbox and marks it, in turn (the shutdown's final
// flush), and returns how many entries it read.
func (d *dispatcher) once(ctx context.Context) (int, error) {
	entries, ids, start, pubErr := d.sendPage(ctx, 0)
	if len(ids) == 0 {
		return 0, pubErr
	}
	d.m.publish.WithLabelValues("deliveries").Observe(time.Since(start).Seconds())
	start = time.Now()
	if err := d.store.MarkPublished(ctx, ids...); err != nil {
		return 0, err
	}
	d.m.storeCommit.WithLabelValues("published").Observe(time.Since(start).Seconds())
	d.countSent(entries, ids)
	d.audit.wake()
	return len(entries), pubErr
}

func deliveryMessage(e store.OutboxEntry) bus.Message {
	return bus.Message{
		Topic: InboxTopic(e.Recipient),
		Key:   []byte(e.DocumentID),
		Value: e.Value,
		Headers: []bus.Header{
			{Key: HeaderType, Value: []byte(e.Kind)},
			{Key: HeaderDocumentID, Value: []byte(e.DocumentID)},
			{Key: HeaderFrom, Value: []byte(e.From)},
			{Key: HeaderSHA256, Value: []byte(e.SHA256)},
			{Key: HeaderAcceptedAt, Value: []byte(e.AcceptedAt.UTC().Format(time.RFC3339))},
			{Key: HeaderAuditSeq, Value: []byte(strconv.FormatUint(e.AuditSeq, 10))},
		},
	}
}

// auditPublisher copies the audit log to axis.audit, in order, from the durable cursor.
type auditPublisher struct {
	store *store.Store
	pub   bus.Publisher
	log   *zap.Logger
	m     *metrics
	wake  wakeup
}

// run publishes until stop is done; like dispatcher.run, a batch in flight completes.
func (a *auditPublisher) run(stop, work context.Context) {
	var bo backoff
	for stop.Err() == nil {
		n, err := a.once(work)
		switch {
		case stop.Err() != nil:
			return
		case err != nil:
			wait := bo.next()
			a.log.Warn("publishing the audit log failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
			if !sleep(stop, wait) {
				return
			}
		case n == auditPage:
			bo.reset()
		default:
			bo.reset()
			// Audit events come from every path (rejections too): poll as well as wake.
			if !a.wake.wait(stop, 200*time.Millisecond) {
				return
			}
		}
	}
}

func (a *auditPublisher) once(ctx context.Context) (int, error) {
	done, err := a.store.AuditPublished(ctx)
	if err != nil {
		return 0, err
	}
	lines, err := a.store.AuditSince(ctx, done, auditPage)
	if err != nil || len(lines) == 0 {
		return 0, err
	}
	msgs := make([]bus.Message, len(lines))
	for i, l := range lines {
		seq := strconv.FormatUint(l.Seq, 10)
		msgs[i] = bus.Message{Topic: TopicAudit, Key: []byte(seq), Value: l.Line,
			Headers: []bus.Header{{Key: HeaderAuditSeq, Value: []byte(seq)}}}
	}
	start := time.Now()
	if err := a.pub.Publish(ctx, msgs...); err != nil {
		return 0, err
	}
	a.m.publish.WithLabelValues("audit").Observe(time.Since(start).Seconds())
	a.m.published.WithLabelValues("audit").Add(float64(len(msgs)))
	return len(lines), a.store.SetAuditPublished(ctx, lines[len(lines)-1].Seq)
}

// statusConsumer takes signed statuses from axis.status. A status that can never be
// accepted goes to axis.dlq with its error; the offset is committed only after the
// durable write (or the DLQ publish), so a crash replays it, and the store's
// idempotency absorbs the replay.
type statusConsumer struct {
	intake *Intake
	bus    bus.Bus
	log    *zap.Logger
	m      *metrics
}

func (s *statusConsumer) handle(ctx context.Context, m bus.Message) error {
	_, err := s.intake.SubmitStatus(ctx, m.Value, SourceKafka)
	if err == nil {
		return nil
	}
	code := errs.CodeOf(err)
	if code.Transient() {
		return err // redelivered after a backoff
	}
	dlq := deadLetter(m, err)
	start := time.Now()
	if err := s.bus.Publish(ctx, dlq); err != nil {
		if errs.CodeOf(err).Transient() {
			return err
		}
		// It can never be published: acknowledging it is the only way on to the next
		// status (its refusal is in the audit log already).
		s.log.Error("status refused and not sent to the dead-letter topic; skipped", zap.Int64("offset", m.Offset),
			zap.String("sha256", sha256Hex(m.Value)), zap.Error(err))
		return nil
	}
	body := errs.ToBody(err)
	s.m.publish.WithLabelValues("dlq").Observe(time.Since(start).Seconds())
	s.m.published.WithLabelValues("dlq").Inc()
	s.log.Info("status sent to the dead-letter topic", zap.String("code", body.Error.Code),
		zap.Int64("offset", m.Offset), zap.String("error", body.Error.Message))
	return nil
}

// deadLetter is the axis.dlq copy of a refused status: the original key, value and
// headers, with the axis's own headers (the producer's axis-* headers are dropped: they
// cannot speak for the axis). A value that would take the copy over the message limit
// is left out, and the copy says so: the error headers alone must always fit.
func deadLetter(m bus.Message, cause error) bus.Message {
	body := errs.ToBody(cause)
	var hs []bus.Header
	for _, h := range m.Headers {
		if !strings.HasPrefix(strings.ToLower(h.Key), "axis-") {
			hs = append(hs, h)
		}
	}
	msg := body.Error.Message
	hs = append(hs, bus.Header{Key: HeaderErrorCode, Value: []byte(body.Error.Code)},
		bus.Header{Key: HeaderSHA256, Value: []byte(sha256Hex(m.Value))})
	d := bus.Message{Topic: TopicDLQ, Key: m.Key, Value: m.Value, Headers: append(hs, bus.Header{Key: HeaderError, Value: []byte(msg)})}
	if d.Size() > bus.MaxMessageBytes-dlqSlack {
		msg += fmt.Sprintf(" (the %d-byte value is left out: with these headers it is over the message limit)", len(m.Value))
		d.Value, d.Headers[len(d.Headers)-1].Value = nil, []byte(msg)
		for d.Size() > bus.MaxMessageBytes-dlqSlack && len(d.Headers) > 3 { // the producer's own headers last
			d.Headers = d.Headers[1:]
		}
	}
	return d
}

// dlqSlack is room for the record's framing within MaxMessageBytes.
const dlqSlack = 4 << 10

func (s *statusConsumer) run(ctx context.Context) {
	var bo backoff
	for ctx.Err() == nil {
		err := s.bus.Subscribe(ctx, TopicStatus, ConsumerGroup, s.handle)
		if err == nil || ctx.Err() != nil {
			return
		}
		wait := bo.next()
		s.log.Warn("consuming axis.status failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		if !sleep(ctx, wait) {
			return
		}
	}
}
