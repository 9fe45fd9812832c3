package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// Fetch settings of the inbox consumer. A fetch is answered as soon as any inbox
// partition has a record (min bytes 1), so no record waits for others to fill a batch:
// the latency measured is the axis's. Max wait only bounds how long an idle fetch is
// held by the broker; it adds nothing to a delivery's latency.
const (
	fetchMinBytes = 1
	fetchMaxWait  = 250 * time.Millisecond
)

// consumers reads the inbox topics from their end offsets as they were when start
// returned, so that only this run's deliveries are seen and none is missed.
type consumers struct {
	cancel context.CancelFunc
	done   chan struct{}
	errMu  sync.Mutex
	err    error
}

// startConsumers positions one client at the current end of every partition of every
// recipient's inbox topic and starts reading. Partitions are assigned directly, without
// a consumer group: no rebalance to wait for and no commits, so the figures are the
// axis's, not the group protocol's. One client reads them all: each fetch asks for every
// partition at once (a fetch session sends only what changed), instead of one reader
// per partition each fetching its few records: measured, that halved the loadgen's
// reading CPU and the broker's fetch handling.
func startConsumers(ctx context.Context, kc agency.KafkaConfig, recipients []string, tr *tracker, log *zap.Logger) (*consumers, error) {
	positions, err := kc.Offsets()
	if err != nil {
		return nil, err
	}
	opts, err := kgoOptions(kc)
	if err != nil {
		return nil, err
	}
	assign := map[string]map[int32]kgo.Offset{}
	recipientOf := map[string]string{}
	for _, r := range recipients {
		topic := axis.InboxTopic(r)
		ps, err := positions.Positions(ctx, topic, "axis-loadgen")
		if err != nil {
			return nil, err
		}
		assign[topic] = map[int32]kgo.Offset{}
		for _, p := range ps {
			assign[topic][int32(p.Partition)] = kgo.NewOffset().At(p.End)
		}
		recipientOf[topic] = r
	}
	opts = append(opts, kgo.ConsumePartitions(assign))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "kafka client")
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumers{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			at := time.Now() // every record of this poll came with the same fetch answers
			for _, fe := range fs.Errors() {
				if errors.Is(fe.Err, context.Canceled) {
					continue
				}
				// The client retries what can be retried by itself; what reaches here is
				// reported (deliveries still missing at the end count as lost).
				c.fail(errs.Wrap(errs.Unavailable, fe.Err, "reading %s/%d", fe.Topic, fe.Partition))
			}
			fs.EachRecord(func(m *kgo.Record) {
				sha := ""
				for _, h := range m.Headers {
					if h.Key == axis.HeaderSHA256 {
						sha = string(h.Value)
						break
					}
				}
				if sha == "" {
					log.Debug("inbox message without axis-sha256", zap.String("topic", m.Topic), zap.Int64("offset", m.Offset))
					return
				}
				tr.arrive(recipientOf[m.Topic], sha, at, m.Timestamp)
			})
		}
	}()
	return c, nil
}

// kgoOptions connects as kc says, with the fetch settings above.
func kgoOptions(kc agency.KafkaConfig) ([]kgo.Opt, error) {
	dialer, err := kc.Dialer() // validates kc and reads the TLS CA, as the daemon's clients do
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(kc.Brokers...), kgo.ClientID("axis-loadgen"),
		kgo.FetchMinBytes(fetchMinBytes), kgo.FetchMaxWait(fetchMaxWait),
		kgo.FetchMaxPartitionBytes(int32(bus.MaxMessageBytes + 1<<20)),
	}
	if dialer.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(dialer.TLS))
	}
	switch m := strings.ToLower(strings.TrimSpace(kc.SASLMechanism)); m {
	case "":
	case kafkabus.SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: kc.Username, Pass: kc.Password}.AsMechanism()))
	case kafkabus.SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: kc.Username, Pass: kc.Password}.AsSha256Mechanism()))
	case kafkabus.SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: kc.Username, Pass: kc.Password}.AsSha512Mechanism()))
	default:
		return nil, errs.Field(errs.BadRequest, "kafka-sasl-mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", kc.SASLMechanism)
	}
	return opts, nil
}

func (c *consumers) fail(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// stop ends the reading and returns the first read error, if any.
func (c *consumers) stop() error {
	c.cancel()
	<-c.done
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}
