// Package kafkabus is the bus.Bus on Kafka, with segmentio/kafka-go.
//
// The choices that make it safe (each a kafka-go trap otherwise): one long-lived
// transport, produce requests with acks=all and no topic auto-creation (produce.go);
// readers that FetchMessage, run the handler, then commit synchronously, in order;
// session timeouts of at least 6 s; reader Close bounded in time; topics created
// explicitly by EnsureTopics.
package kafkabus

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
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"axis/axis/bus"
	"axis/axis/bus/internal/backoff"
	"axis/axis/errs"
)

// Bus is a bus.Bus on a Kafka cluster. It is safe for concurrent use.
type Bus struct {
	cfg   Config
	log   *zap.Logger
	retry backoff.Policy
	// transport carries every request: produce requests built by produce.go, and the
	// client's admin requests. Its metadata cache routes them to partition leaders.
	transport *kafka.Transport
	// Same key, same partition, and the same partition as the Java client would
	// choose, so other producers of these topics agree with us.
	balancer kafka.Murmur2Balancer
	client   *kafka.Client
	dialer   *kafka.Dialer

	closedCtx context.Context // done once Close was called
	close     context.CancelFunc
	closeOnce sync.Once
	running   sync.RWMutex // read-held by each Publish; Close takes it to wait for them
}

var _ bus.Bus = (*Bus)(nil)

// New validates cfg and returns a Bus. It does not contact the brokers (see Ping).
func New(cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := cfg.saslMechanism()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger // the caller names it (e.g. Named("kafka"))
	transport := &kafka.Transport{
		DialTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: cfg.MetadataTTL,
		ClientID:    cfg.ClientID,
		TLS:         tlsCfg,
		SASL:        mech,
	}
	b := &Bus{
		cfg:       cfg,
		log:       log,
		retry:     backoff.Policy{Min: cfg.RetryMin, Max: cfg.RetryMax},
		transport: transport,
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.PublishTimeout},
		dialer: &kafka.Dialer{
			ClientID:      cfg.ClientID,
			Timeout:       5 * time.Second,
			DialFunc:      dialGrace,
			TLS:           tlsCfg,
			SASLMechanism: mech,
		},
	}
	b.closedCtx, b.close = context.WithCancel(context.Background())
	return b, nil
}

// Ping connects to the brokers (TLS and SASL included) and asks for their API
// versions, so that a wrong address, certificate or password shows at start rather
// than at the first message.
func (b *Bus) Ping(ctx context.Context) error {
	var err error
	for _, addr := range b.cfg.Brokers {
		var conn *kafka.Conn
		if conn, err = b.dialer.DialContext(ctx, "tcp", addr); err == nil {
			conn.Close()
			break
		}
	}
	if err == nil {
		var resp *kafka.ApiVersionsResponse
		resp, err = b.client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
	}
	if err != nil {
		return classify(err, nil, "kafka ping %v", b.cfg.Brokers)
	}
	return nil
}

// diagnose explains a bare EOF when SASL is configured. Some brokers (kfake among
// them) refuse bad credentials by closing the connection, which kafka-go's transport
// reports as an unexpected EOF, indistinguishable from a broker going away; a direct
// dial tells the two apart, so that a wrong password is not retried as an outage.
func (b *Bus) diagnose(ctx context.Context, err error) error {
	if b.cfg.SASLMechanism == "" || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, addr := range b.cfg.Brokers {
		conn, derr := b.dialer.DialContext(ctx, "tcp", addr)
		if derr == nil {
			conn.Close()
			return err
		}
		if isAny(derr, authErrors) {
			return errors.Join(derr, err)
		}
	}
	return err
}

// EnsureTopics implements bus.Admin. Topics are created with the configured partitions
// and replication factor, max.message.bytes = MaxMessageBytes, and no retention limit
// (topicRetention). Existing topics are left as they are, retention included: this only
// creates (an operator's setting is never overwritten), and says so in the log. On
// return, this Bus's Publish sees every topic. Transient broker errors are retried for
// up to PublishTimeout.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		if err := bus.CheckTopic(t); err != nil {
			return err
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t,
			NumPartitions:     b.cfg.Partitions,
			ReplicationFactor: b.cfg.ReplicationFactor,
			ConfigEntries: append([]kafka.ConfigEntry{
				// The limit applies to a whole record batch: leave room for its framing.
				{ConfigName: "max.message.bytes", ConfigValue: fmt.Sprint(b.cfg.MaxMessageBytes + 1<<20)},
			}, topicRetention...),
		})
	}
	ctx, cancel := b.bounded(ctx, b.cfg.PublishTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		existing, err := b.createTopics(ctx, req)
		if err == nil {
			if len(existing) > 0 {
				b.log.Info("topics exist already: their configuration (retention included) is left as it is",
					zap.Strings("topics", existing))
				b.warnRetention(ctx, existing)
			}
			break
		}
		err = b.diagnose(ctx, err)
		if !retriable(err) || !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
			return classify(err, context.Cause(ctx), "create topics %v", topics)
		}
		b.log.Warn("creating topics failed; retrying", zap.Strings("topics", topics), zap.Error(err))
	}
	// Topics that existed already were created elsewhere, perhaps after the client's
	// last metadata refresh: wait until Publish can see them.
	for attempt := 0; ; attempt++ {
		missing, err := b.missingTopics(ctx, topics)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
			if err == nil {
				err = fmt.Errorf("topics %v created but not yet visible", missing)
			}
			return classify(err, context.Cause(ctx), "create topics %v", topics)
		}
	}
}

// topicRetention keeps every record: the broker's default (log.retention.hours=168)
// would delete the head of axis.audit after a week, and `axis audit replay` could no
// longer rebuild the history from the topic (SPEC §5, §9); it would also delete the
// documents in the inbox of an agency offline for a week, the statuses on axis.status
// not yet accepted, and the evidence in axis.dlq. Every topic the axis creates holds
// something found nowhere else until it is read, so none expires by default; an
// operator who wants a bound sets it per topic (kafka-configs --alter), which
// EnsureTopics never undoes.
var topicRetention = []kafka.ConfigEntry{
	{ConfigName: "retention.ms", ConfigValue: "-1"},
	{ConfigName: "retention.bytes", ConfigValue: "-1"},
}

// warnRetention warns about existing topics that do not keep every record (topicRetention):
// the operator may have meant it, but an agency offline for longer loses documents, and
// the audit topic its head. A broker that cannot say is only noted.
func (b *Bus) warnRetention(ctx context.Context, topics []string) {
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"retention.ms", "retention.bytes"}})
	}
	resp, err := b.client.DescribeConfigs(ctx, req)
	if err != nil {
		b.log.Info("could not read the retention of existing topics", zap.Error(err))
		return
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			b.log.Info("could not read a topic's retention", zap.String("topic", r.ResourceName), zap.Error(r.Error))
			continue
		}
		var fields []zap.Field
		for _, e := range r.ConfigEntries {
			if (e.ConfigName == "retention.ms" || e.ConfigName == "retention.bytes") && e.ConfigValue != "-1" {
				fields = append(fields, zap.String(e.ConfigName, e.ConfigValue))
			}
		}
		if len(fields) > 0 {
			b.log.Warn("topic deletes old records: documents an agency has not read, or the start of the audit log, can be lost; set retention.ms=-1 and retention.bytes=-1 unless this is meant",
				append([]zap.Field{zap.String("topic", r.ResourceName)}, fields...)...)
		}
	}
}

// createTopics returns the topics that existed already.
func (b *Bus) createTopics(ctx context.Context, req *kafka.CreateTopicsRequest) ([]string, error) {
	resp, err := b.client.CreateTopics(ctx, req)
	if err != nil {
		return nil, err
	}
	var existing []string
	for topic, terr := range resp.Errors {
		switch {
		case errors.Is(terr, kafka.TopicAlreadyExists):
			existing = append(existing, topic)
		case terr != nil:
			return nil, fmt.Errorf("topic %s: %w", topic, terr)
		}
	}
	slices.Sort(existing)
	return existing, nil
}

// missingTopics returns the topics the client's metadata does not show yet.
func (b *Bus) missingTopics(ctx context.Context, topics []string) ([]string, error) {
	resp, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			found[t.Name] = true
		}
	}
	var missing []string
	for _, t := range topics {
		if !found[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// Publish implements bus.Publisher. It retries transient failures with backoff until
// every message is acknowledged by all in-sync replicas, ctx ends or PublishTimeout
// (plus a second per MiB) passes. After a partial failure it sends again the messages
// that failed; a partition's messages after a failed batch count as failed, so the last
// copy of each message in a partition keeps the call's order (earlier copies, from a
// batch the broker appended and still reported failed, are the at-least-once duplicates).
func (b *Bus) Publish(ctx context.Context, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	// Close waits for the calls in flight before it drops the connections: a call's
	// next request would otherwise start a new connection pool no one closes.
	b.running.RLock()
	defer b.running.RUnlock()
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "publish cancelled")
	}
	pending := make([]kafka.Message, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		if err := bus.CheckTopic(m.Topic); err != nil {
			return err
		}
		if n := m.Size(); n > b.cfg.MaxMessageBytes {
			return errs.E(errs.TooLarge, "message of %d bytes exceeds the bus limit of %d", n, b.cfg.MaxMessageBytes)
		}
		pending[i] = toKafka(m, now)
	}
	size := 0
	for _, m := range msgs {
		size += m.Size()
	}
	ctx, cancel := b.bounded(ctx, b.cfg.PublishTimeout+time.Duration(size>>20)*time.Second)
	defer cancel()
	start := time.Now()
	for attempt := 0; ; attempt++ {
		var err error
		if werrs := b.produce(ctx, pending); slices.ContainsFunc(werrs, func(e error) bool { return e != nil }) {
			pending, err = remaining(pending, werrs)
		}
		if err == nil {
			if attempt > 0 {
				b.log.Info("publish succeeded after retries", zap.Int("attempts", attempt+1), zap.Int("messages", len(pending)))
			}
			return nil
		}
		if ctx.Err() != nil {
			return classify(err, context.Cause(ctx), "publish %d messages", len(pending))
		}
		err = b.diagnose(ctx, err)
		// A topic unknown for longer than two metadata refreshes does not exist.
		if !retriable(err) || errors.Is(err, kafka.UnknownTopicOrPartition) && time.Since(start) > 2*b.cfg.MetadataTTL {
			return classify(err, nil, "publish %d messages", len(pending))
		}
		// Through an outage one call retries about once a second: a warning for the first
		// failure and every tenth, the others at debug level.
		lvl := zap.DebugLevel
		if attempt%10 == 0 {
			lvl = zap.WarnLevel
		}
		b.log.Log(lvl, "publish failed; retrying", zap.Int("attempt", attempt+1), zap.Int("messages", len(pending)), zap.Error(err))
		if !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
			return classify(err, context.Cause(ctx), "publish %d messages", len(pending))
		}
	}
}

// remaining returns the messages to send again after a partial failure: those that
// failed, in the call's order. That keeps each partition's order: produce never sends a
// partition's batch after a failed one, and fails those too. The returned error is the
// first permanent one if any, else the first failure.
func remaining(sent []kafka.Message, werrs []error) ([]kafka.Message, error) {
	var first, permanent error
	var out []kafka.Message
	for i, m := range sent {
		if werrs[i] == nil {
			continue
		}
		out = append(out, m)
		if first == nil {
			first = werrs[i]
		}
		if permanent == nil && !retriable(werrs[i]) {
			permanent = werrs[i]
		}
	}
	if permanent != nil {
		return out, permanent
	}
	return out, first
}

// Subscribe implements bus.Subscriber with one kafka-go group reader: messages are
// handled one at a time, and each offset is committed synchronously after its handler
// returned nil. If the reader fails it is replaced after a backoff.
func (b *Bus) Subscribe(ctx context.Context, topic, group string, h bus.Handler) error {
	if err := bus.CheckTopic(topic); err != nil {
		return err
	}
	if err := bus.CheckGroup(group); err != nil {
		return err
	}
	if h == nil {
		return errs.E(errs.BadRequest, "nil handler")
	}
	if err := b.isClosed(); err != nil {
		return err
	}
	ctx, cancel := b.bounded(ctx, 0)
	defer cancel()
	log := b.log.With(zap.String("topic", topic), zap.String("group", group))
	if !b.waitTopic(ctx, log, topic) {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := b.consume(ctx, log, topic, group, h)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("consumer failed; reconnecting", zap.Error(err))
		if !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
			return nil
		}
	}
}

// waitTopic waits until topic exists, reporting false if ctx ended first. A kafka-go
// group reader joined to a missing topic would sit with no partitions.
func (b *Bus) waitTopic(ctx context.Context, log *zap.Logger, topic string) bool {
	for attempt := 0; ; attempt++ {
		missing, err := b.missingTopics(ctx, []string{topic})
		if err == nil && len(missing) == 0 {
			return true
		}
		if attempt == 0 {
			log.Info("waiting for the topic to exist", zap.NamedError("last_error", err))
		}
		if !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
			return false
		}
	}
}

func (b *Bus) consume(ctx context.Context, log *zap.Logger, topic, group string, h bus.Handler) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     b.cfg.Brokers,
		GroupID:     group,
		Topic:       topic,
		Dialer:      b.dialer,
		StartOffset: kafka.FirstOffset,
		// Synchronous commits: CommitMessages returns once the broker stored it.
		CommitInterval:    0,
		SessionTimeout:    b.cfg.SessionTimeout,
		HeartbeatInterval: b.cfg.SessionTimeout / 3,
		RebalanceTimeout:  b.cfg.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		MinBytes:          1,
		MaxBytes:          b.cfg.MaxMessageBytes + 2<<20,
		// The long poll: also how long stopping a subscription may wait for the
		// fetch in flight. (The readers' connections add readGrace to it for the
		// response header, see graceConn.)
		MaxWait: time.Second,
		// Deadline for reading each message of a fetched batch (see IOTimeout).
		ReadBatchTimeout: b.cfg.IOTimeout,
		// Few prefetched messages: each can be a 64 MiB package, and memory holds
		// the queue plus the message being read.
		QueueCapacity:         4,
		WatchPartitionChanges: true,
		ReadBackoffMin:        b.cfg.RetryMin,
		ReadBackoffMax:        b.cfg.RetryMax,
		Logger:                zapLogger(log.Named("reader"), zap.DebugLevel),
		ErrorLogger:           zapLogger(log.Named("reader"), zap.WarnLevel),
	})
	defer b.closeBounded(log, "reader", r.Close)

	for {
		// FetchMessage may pick a buffered message over a cancelled context.
		if err := ctx.Err(); err != nil {
			return err
		}
		km, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		m := fromKafka(km)
		for attempt := 0; ; attempt++ {
			herr := h(ctx, m)
			if herr == nil {
				break
			}
			log.Warn("handler failed; will redeliver", zap.Int64("offset", m.Offset), zap.Int("partition", m.Partition),
				zap.Int("attempt", attempt+1), zap.Error(herr))
			if !backoff.Sleep(ctx, b.retry.Delay(attempt)) {
				return ctx.Err()
			}
		}
		// The work is done: commit even if ctx was cancelled meanwhile, or the next
		// member would do it again.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.CloseTimeout)
		err = r.CommitMessages(cctx, km)
		cancel()
		if err != nil {
			// Typically a rebalance took the partition away: its new owner will
			// receive the message again (at least once).
			log.Warn("commit failed; message may be delivered again", zap.Int64("offset", m.Offset), zap.Error(err))
			return err
		}
	}
}

// Close stops running subscriptions and Publish calls, waits for the calls to return
// (at most CloseTimeout), and closes the broker connections. It is idempotent.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.close()
		b.closeBounded(b.log, "publishers", func() error {
			b.running.Lock()
			defer b.running.Unlock()
			b.transport.CloseIdleConnections()
			return nil
		})
	})
	return nil
}

func (b *Bus) isClosed() error {
	if b.closedCtx.Err() != nil {
		return errs.E(errs.Unavailable, "bus closed")
	}
	return nil
}

// bounded derives a context that ends with ctx, when the bus closes, or after d (if
// d > 0).
func (b *Bus) bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("gave up after %v", d))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(b.closedCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// closeBounded runs close, giving up after CloseTimeout: kafka-go's Close may wait on
// a broker that is gone.
func (b *Bus) closeBounded(log *zap.Logger, what string, close func() error) {
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("closing "+what, zap.Error(err))
		}
	case <-time.After(b.cfg.CloseTimeout):
		log.Warn("closing "+what+" timed out; abandoning it", zap.Duration("timeout", b.cfg.CloseTimeout))
	}
}

func toKafka(m bus.Message, now time.Time) kafka.Message {
	km := kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Time: now}
	if len(m.Headers) > 0 {
		km.Headers = make([]protocol.Header, len(m.Headers))
		for i, h := range m.Headers {
			km.Headers[i] = protocol.Header{Key: h.Key, Value: h.Value}
		}
	}
	return km
}

func fromKafka(km kafka.Message) bus.Message {
	m := bus.Message{
		Topic: km.Topic, Key: km.Key, Value: km.Value,
		Partition: km.Partition, Offset: km.Offset, Time: km.Time,
	}
	if len(km.Headers) > 0 {
		m.Headers = make([]bus.Header, len(km.Headers))
		for i, h := range km.Headers {
			m.Headers[i] = bus.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

// zapLogger adapts kafka-go's printf logging to zap at one level.
func zapLogger(log *zap.Logger, level zapcore.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if ce := log.Check(level, ""); ce != nil {
			ce.Message = fmt.Sprintf(format, args...)
			ce.Write()
		}
	})
}

// readGrace is added to every read deadline kafka-go sets on a reader's connections.
// kafka-go uses MaxWait both as the broker's long-poll time and as the deadline for
// the fetch response's header; a broker that needs longer than that to assemble a
// large batch (kfake on a loaded machine, for a 64 MiB package) would time the fetch
// out on every attempt and the message would never be consumed. The grace lets the
// header arrive late without lengthening the long poll (and so without slowing down
// the stop of a subscription). It also delays noticing a silently hung broker by as
// much; a broker that dies closes the connection and is noticed at once.
const readGrace = 10 * time.Second

func dialGrace(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return graceConn{c}, nil
}

type graceConn struct{ net.Conn }

func (c graceConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		t = t.Add(readGrace)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c graceConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}
