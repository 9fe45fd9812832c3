// Package axis wires the daemon: intake (HTTP, drop directory, the axis.status topic),
// verification, the durable store, the outbox dispatcher that routes packages and
// statuses to the agencies' inbox topics, the audit publisher, and the read API.
package axis

import (
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"axis/envelope"
)

// Topics of SPEC §8.
const (
	TopicStatus      = "axis.status"
	TopicAudit       = "axis.audit"
	TopicDLQ         = "axis.dlq"
	InboxPrefix      = "axis.inbox."
	ConsumerGroup    = "axis"
	DefaultHTTPAddr  = "127.0.0.1:8080"
	DefaultBrokerAdr = "127.0.0.1:9092"
)

// InboxTopic is the inbox topic of an agency.
func InboxTopic(organID string) string { return InboxPrefix + organID }

// Config is everything `axis serve` needs. Validate fills defaults and refuses what
// cannot work, so bad configuration fails at start with one clear line.
type Config struct {
	DataDir         string
	HTTPAddr        string
	Brokers         []string // empty: run the embedded development broker
	EmbeddedBroker  string   // its address
	BrokerNoSync    bool     // embedded broker: skip the fsync per batch (faster, a machine crash can lose seconds)
	DropDir         string
	RegistryFile    string
	TrustPath       string
	IdentityKey     string
	IdentityCert    string
	AllowSHA1       bool
	MaxPackageBytes int64
	// SecureCookies: the portal is served over HTTPS by a TLS-terminating proxy (Secure
	// cookies and HSTS though this listener is plain HTTP).
	SecureCookies bool
	// BodyIdle is the longest a submission's body may pause (default 30 s); the whole
	// body also gets this plus its size at 16 KiB/s.
	BodyIdle time.Duration

	KafkaTLSCA    string
	SASLMechanism string
	KafkaUser     string
	KafkaPassword string

	// CheckpointInterval is the longest an audit event waits for a signed checkpoint
	// while the daemon runs (default 1 min), so a live export is attested too.
	CheckpointInterval time.Duration
	// ShutdownGrace bounds the whole shutdown (default 15 s).
	ShutdownGrace time.Duration
	// RecoverProbe is how long after the store stopped writing (a failed durable write:
	// full or failing disk) the data directory is first checked for room again; then
	// twice as long each time, up to a minute (default 5 s). See Run and ErrRecover.
	RecoverProbe time.Duration
	Logger       *zap.Logger
}

// Validate applies defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		c.DataDir = ".axis"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.EmbeddedBroker == "" {
		c.EmbeddedBroker = DefaultBrokerAdr
	}
	if c.MaxPackageBytes <= 0 {
		c.MaxPackageBytes = envelope.DefaultMaxBytes
	}
	if c.BodyIdle <= 0 {
		c.BodyIdle = 30 * time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.RecoverProbe <= 0 {
		c.RecoverProbe = 5 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	var problems []error
	need := func(v, flag string) {
		if v == "" {
			problems = append(problems, fmt.Errorf("--%s is required", flag))
		}
	}
	need(c.RegistryFile, "registry")
	need(c.TrustPath, "trust")
	need(c.IdentityKey, "identity-key")
	need(c.IdentityCert, "identity-cert")
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		problems = append(problems, fmt.Errorf("--http %q: %v", c.HTTPAddr, err))
	}
	if len(c.Brokers) == 0 {
		if _, _, err := net.SplitHostPort(c.EmbeddedBroker); err != nil {
			problems = append(problems, fmt.Errorf("--embedded-broker %q: %v", c.EmbeddedBroker, err))
		}
	}
	if c.MaxPackageBytes > envelope.DefaultMaxBytes {
		problems = append(problems, fmt.Errorf("--max-package-bytes %d: at most %d (the largest Kafka message the axis configures)", c.MaxPackageBytes, envelope.DefaultMaxBytes))
	}
	return errors.Join(problems...)
}
