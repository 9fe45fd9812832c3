package kafkabus

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/errs"
)

// SASL mechanisms, as spelled by --kafka-sasl-mechanism.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// Config configures a Bus. Zero durations and sizes take the defaults named on each
// field; Validate fills them in and rejects what cannot work.
type Config struct {
	Brokers []string // bootstrap host:port list; required

	// TLS: either a ready tls.Config or a PEM file of CAs to verify the brokers with
	// (either one enables TLS).
	TLS       *tls.Config
	TLSCAFile string

	// SASL: "", plain, scram-sha-256 or scram-sha-512 (case-insensitive). Username and
	// Password are required with a mechanism. PLAIN sends the password as is: use it
	// only over TLS.
	SASLMechanism      string
	Username, Password string

	ClientID string      // default "axis"
	Logger   *zap.Logger // default zap.NewNop(); used as given (name it, e.g. Named("kafka"))

	// PublishTimeout bounds one Publish call, retries included (default 10 s), plus
	// one second per MiB the call carries, so that a 64 MiB package over a slow link
	// gets the time it needs: the daemon's outbox retries on its own, so Publish
	// reports a broker outage instead of hanging.
	PublishTimeout time.Duration

	// RetryMin and RetryMax bound the backoff between Publish attempts and between
	// deliveries of a message whose handler failed (defaults 100 ms and 1 s, as Kafka's
	// own clients: a broker back from an outage is used within a second).
	RetryMin, RetryMax time.Duration

	// Partitions and ReplicationFactor of the topics EnsureTopics creates (defaults 1,
	// which keeps each topic totally ordered, and -1, the broker's default).
	Partitions        int
	ReplicationFactor int

	// SessionTimeout of consumer-group members (default 10 s, at least 6 s, Kafka's
	// minimum): how long a crashed member keeps its partitions.
	SessionTimeout time.Duration

	// IOTimeout bounds sending one produce request and reading one fetched message on
	// a broker connection (default 2 min: a 64 MiB package at 10 Mbit/s takes 54 s;
	// with kafka-go's 10 s such a message would fail and be retried forever).
	IOTimeout time.Duration

	// CloseTimeout bounds closing a reader or the writer (default 5 s).
	CloseTimeout time.Duration

	// MetadataTTL is how stale the client's view of topics may get (default 3 s).
	MetadataTTL time.Duration

	// MaxMessageBytes is the largest message written or read (default
	// bus.MaxMessageBytes). Topics are created with max.message.bytes set to it; the
	// brokers' own limits (message.max.bytes, replica.fetch.max.bytes) must allow it.
	MaxMessageBytes int
}

// Validate checks the configuration and fills in defaults. Errors name the flag to fix.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errs.Field(errs.BadRequest, "brokers", "at least one Kafka broker (host:port) is required")
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return errs.Field(errs.BadRequest, "brokers", "%q is not host:port", b)
		}
	}
	c.SASLMechanism = strings.ToLower(strings.TrimSpace(c.SASLMechanism))
	switch c.SASLMechanism {
	case "":
		if c.Username != "" || c.Password != "" {
			return errs.Field(errs.BadRequest, "kafka-sasl-mechanism", "a Kafka username or password is set but no SASL mechanism")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.Username == "" || c.Password == "" {
			return errs.Field(errs.BadRequest, "kafka-username", "SASL %s needs a username and a password", c.SASLMechanism)
		}
	default:
		return errs.Field(errs.BadRequest, "kafka-sasl-mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", c.SASLMechanism)
	}
	if c.TLS != nil && c.TLSCAFile != "" {
		return errs.Field(errs.BadRequest, "kafka-tls-ca", "give either a TLS config or a CA file, not both")
	}
	if c.ClientID == "" {
		c.ClientID = "axis"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PublishTimeout, 10*time.Second)
	def(&c.RetryMin, 100*time.Millisecond)
	def(&c.RetryMax, time.Second)
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.CloseTimeout, 5*time.Second)
	def(&c.IOTimeout, 2*time.Minute)
	def(&c.MetadataTTL, 3*time.Second)
	if c.SessionTimeout < 6*time.Second {
		return errs.Field(errs.BadRequest, "kafka-session-timeout", "%v is below Kafka's minimum of 6s", c.SessionTimeout)
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = bus.MaxMessageBytes
	}
	return nil
}

// tlsConfig returns the TLS configuration to dial with, nil for plaintext.
// Security validates c and returns the TLS configuration and SASL mechanism it
// describes, for clients of the same cluster that Bus does not cover (offset queries,
// readers of one partition without a group).
func (c Config) Security() (*tls.Config, sasl.Mechanism, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	mech, err := c.saslMechanism()
	if err != nil {
		return nil, nil, err
	}
	return tlsCfg, mech, nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.TLS != nil {
		return c.TLS, nil
	}
	if c.TLSCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "kafka-tls-ca: cannot read %s", c.TLSCAFile)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errs.Field(errs.BadRequest, "kafka-tls-ca", "%s holds no PEM certificate", c.TLSCAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	switch c.SASLMechanism {
	case SASLPlain:
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if c.SASLMechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.Username, c.Password)
		if err != nil {
			return nil, errs.Wrap(errs.BadRequest, err, "kafka-password: unusable for SCRAM")
		}
		return m, nil
	}
	return nil, nil
}
