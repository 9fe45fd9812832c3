// Package broker runs the development Kafka broker: kfake (franz-go), a single-node
// broker speaking the real Kafka protocol over TCP, so kafka-go, kcat and any Kafka
// client talk to it as to a cluster. It is what `axis serve` runs when no --brokers are
// given, and what `axis broker` runs standalone. It is not a production cluster: one
// node, no replication.
//
// # Durability
//
// With a DataDir, every produced batch is appended to a segment file before the broker
// acknowledges it, and committed consumer offsets are appended to a log as they are
// committed; topics, users and configuration are rewritten atomically (write, fsync,
// rename) when they change, and Close saves the rest. What a crash loses:
//
//   - Process crash (kill -9, panic, OOM): nothing acknowledged. The data was written
//     to the OS before the acknowledgement; the next start replays the segments and
//     truncates a torn last entry.
//   - Machine crash (power loss, kernel panic) without SyncWrites: whatever the kernel
//     had not yet written back, typically the last 5 to 30 seconds of acknowledged
//     messages and commits (Kafka's own default, log.flush.interval.messages=MAX,
//     makes the same bet but has replicas to cover it; this broker has none).
//   - Machine crash with SyncWrites: nothing acknowledged; every batch and offset
//     commit is fsynced before the answer, at the cost of one fsync per produce
//     request (see BenchmarkPublish for the price on this machine).
//
// The daemon marks a package published once the broker acknowledged it, so with one
// unreplicated node only SyncWrites makes "acknowledged" mean "on disk". Config's zero
// value therefore syncs; NoSync trades that for speed where losing the last seconds on
// a power cut is acceptable (throwaway demos, benchmarks).
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"axis/axis/bus"
	"axis/axis/errs"
)

// DefaultAddr is where the development broker listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9092"

// SASL mechanisms a User may use (Kafka's spelling).
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// User is a SASL account. With at least one user the broker requires authentication.
type User struct {
	Mechanism string // Plain, ScramSHA256 or ScramSHA512
	Name      string
	Password  string
}

// Config configures the broker. The zero value listens on DefaultAddr and keeps its
// data in memory; with a DataDir it is durable (fsync per batch) unless NoSync.
type Config struct {
	// Addr is the host:port to listen on (default DefaultAddr; port 0 picks a free
	// one). It is also the address the broker tells clients to connect to, unless
	// Advertise is set.
	Addr      string
	Advertise string // host:port clients are told to use, e.g. when Addr is 0.0.0.0:9092

	// DataDir keeps topics, messages and committed offsets across restarts. Empty:
	// in memory, lost at Close.
	DataDir string
	// NoSync skips the fsync of each batch and commit (see the package doc): a
	// machine crash may then lose the last seconds of acknowledged messages.
	NoSync bool

	// Users are the SASL accounts; none: no authentication. They are the truth at
	// every start: kfake also saves accounts in the DataDir (sasl.json, PLAIN
	// passwords in clear), and Start discards that copy when Users are given.
	Users []User
	TLS   *tls.Config // serve TLS with this configuration (it needs a certificate)

	Logger *zap.Logger // default zap.NewNop(); used as given (name it, e.g. Named("broker"))

	// MaxMessageBytes is the broker's message.max.bytes, the largest produce batch it
	// accepts (default: room for a bus.MaxMessageBytes message and its framing).
	MaxMessageBytes int
}

// Broker is a running development broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	log     *zap.Logger
	unlock  func()

	closeOnce sync.Once
}

// Start starts a broker and returns once it accepts connections. Loading a large DataDir
// cannot be interrupted; ctx is checked before and after it.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = bus.MaxMessageBytes + 2<<20
	}
	log := cfg.Logger // the caller names it (e.g. Named("broker"))
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, errs.Field(errs.BadRequest, "addr", "%q is not host:port", cfg.Addr)
	}
	if cfg.Advertise != "" {
		if _, _, err := net.SplitHostPort(cfg.Advertise); err != nil {
			return nil, errs.Field(errs.BadRequest, "advertise", "%q is not host:port", cfg.Advertise)
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("axis-dev"),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes)}),
		// kfake calls this with its own idea of the address (127.0.0.1 and a port);
		// we listen where we were told.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, cfg.Addr)
			if err != nil {
				return nil, err
			}
			if cfg.Advertise != "" {
				return advertised{ln, cfg.Advertise}, nil
			}
			return ln, nil
		}),
	}
	unlock := func() {}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "broker data dir %s", cfg.DataDir)
		}
		var err error
		if unlock, err = lockDir(cfg.DataDir); err != nil {
			return nil, err
		}
		if len(cfg.Users) > 0 {
			// Otherwise kfake's saved accounts would override the configured ones.
			if err := os.Remove(filepath.Join(cfg.DataDir, "sasl.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				unlock()
				return nil, errs.Wrap(errs.Unavailable, err, "broker data dir %s", cfg.DataDir)
			}
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if !cfg.NoSync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			switch u.Mechanism {
			case Plain, ScramSHA256, ScramSHA512:
			default:
				unlock()
				return nil, errs.Field(errs.BadRequest, "users", "user %q: mechanism %q, want %s, %s or %s", u.Name, u.Mechanism, Plain, ScramSHA256, ScramSHA512)
			}
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		unlock()
		return nil, errs.Wrap(errs.Unavailable, err, "starting the development broker on %s", cfg.Addr)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0], log: log, unlock: unlock}
	if err := ctx.Err(); err != nil {
		b.Close()
		return nil, err
	}
	log.Info("development Kafka broker (kfake) started",
		zap.String("addr", b.addr),
		zap.String("data_dir", cfg.DataDir),
		zap.Bool("fsync", cfg.DataDir != "" && !cfg.NoSync),
		zap.Bool("sasl", len(cfg.Users) > 0),
		zap.Bool("tls", cfg.TLS != nil))
	if cfg.DataDir == "" {
		log.Warn("development broker keeps its data in memory only: everything is lost when it stops")
	}
	return b, nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, saving its state to the DataDir if it has one. It is
// idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cluster.Close()
		b.unlock()
		b.log.Info("development Kafka broker stopped", zap.String("addr", b.addr))
	})
	return nil
}

// advertised reports another address than the one listened on; kfake tells clients
// the listener's address.
type advertised struct {
	net.Listener
	addr string
}

func (a advertised) Addr() net.Addr { return advertisedAddr(a.addr) }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// kfakeLogger sends kfake's logs to zap. kfake logs every request at info; that is
// debug for us.
type kfakeLogger struct{ log *zap.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	zl := zapcore.DebugLevel
	switch level {
	case kfake.LogLevelError:
		zl = zapcore.ErrorLevel
	case kfake.LogLevelWarn:
		zl = zapcore.WarnLevel
	}
	if ce := l.log.Check(zl, ""); ce != nil {
		ce.Message = fmt.Sprintf(format, args...)
		ce.Write()
	}
}

func lockPath(dir string) string { return filepath.Join(dir, "axis-broker.lock") }
