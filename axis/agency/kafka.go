package agency

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"go.uber.org/zap"

	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// KafkaConfig is how an agency tool reaches the brokers: the same flags as `axis serve`.
type KafkaConfig struct {
	Brokers       []string
	TLSCAFile     string
	SASLMechanism string // plain, scram-sha-256, scram-sha-512
	Username      string
	Password      string
}

// Bus returns the kafkabus the inbox consumes and publishes with.
func (c KafkaConfig) Bus(log *zap.Logger) (*kafkabus.Bus, error) {
	return kafkabus.New(kafkabus.Config{Brokers: c.Brokers, TLSCAFile: c.TLSCAFile, SASLMechanism: c.SASLMechanism,
		Username: c.Username, Password: c.Password, ClientID: "axis-agency", Logger: log})
}

// security is kafkabus's, for the requests kafkabus does not offer (offsets, reading a
// partition without a group).
func (c KafkaConfig) security() (*tls.Config, sasl.Mechanism, error) {
	return kafkabus.Config{Brokers: c.Brokers, TLSCAFile: c.TLSCAFile, SASLMechanism: c.SASLMechanism,
		Username: c.Username, Password: c.Password}.Security()
}

// Dialer returns a kafka-go dialer with the configured security.
func (c KafkaConfig) Dialer() (*kafka.Dialer, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: "axis-agency", Timeout: 10 * time.Second, DualStack: true, TLS: tlsCfg, SASLMechanism: mech}, nil
}

// Transport returns a kafka-go transport with the configured security; metaTTL is how
// stale its view of the cluster may get (0: kafka-go's default).
func (c KafkaConfig) Transport(metaTTL time.Duration) (*kafka.Transport, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: "axis-agency", TLS: tlsCfg, SASL: mech, MetadataTTL: metaTTL}, nil
}

// Offsets returns the Positions of consumer groups on this cluster.
func (c KafkaConfig) Offsets() (Positions, error) {
	tr, err := c.Transport(0)
	if err != nil {
		return nil, err
	}
	return &kafkaPositions{client: &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: tr}}, nil
}

type kafkaPositions struct{ client *kafka.Client }

// Close closes the connections (and the metadata refresh) of the positions' transport.
func (k *kafkaPositions) Close() error {
	if t, ok := k.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Positions implements Positions with Metadata, ListOffsets and OffsetFetch.
func (k *kafkaPositions) Positions(ctx context.Context, topic, group string) ([]Position, error) {
	md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "kafka metadata of %s", topic)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			break
		}
		if t.Error != nil {
			return nil, errs.Wrap(errs.Unavailable, t.Error, "topic %s", topic)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, errs.E(errs.NotFound, "topic %s does not exist (is the agency in the axis registry?)", topic)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := k.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "kafka offsets of %s", topic)
	}
	of, err := k.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "committed offsets of group %s", group)
	}
	// A group that never committed does not exist yet (kfake says so; Kafka answers -1).
	if of.Error != nil && !errors.Is(of.Error, kafka.GroupIdNotFound) {
		return nil, errs.Wrap(errs.Unavailable, of.Error, "committed offsets of group %s", group)
	}
	committed := map[int]int64{}
	for _, p := range of.Topics[topic] {
		if errors.Is(p.Error, kafka.GroupIdNotFound) {
			continue
		}
		if p.Error != nil {
			return nil, errs.Wrap(errs.Unavailable, p.Error, "committed offset of %s/%d", topic, p.Partition)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	var out []Position
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, errs.Wrap(errs.Unavailable, po.Error, "offsets of %s/%d", topic, po.Partition)
		}
		pos := Position{Partition: po.Partition, Start: po.FirstOffset, End: po.LastOffset, Committed: -1}
		if c, ok := committed[po.Partition]; ok {
			pos.Committed = c
		}
		out = append(out, pos)
	}
	if len(out) != len(parts) {
		return nil, errs.E(errs.Unavailable, "offsets of %s: %d of %d partitions answered", topic, len(out), len(parts))
	}
	return out, nil
}

func (p Position) String() string {
	return fmt.Sprintf("partition %d: start %d, end %d, committed %d", p.Partition, p.Start, p.End, p.Committed)
}
