package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/logging"
	"axis/envelope"
)

func init() { register(serveCommand()) }

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the axis daemon (with the embedded development broker unless --brokers is given)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: ".axis", Usage: "store, broker data and token secret", EnvVars: []string{"AXIS_DATA_DIR"}},
			&cli.StringFlag{Name: "http", Value: axis.DefaultHTTPAddr, Usage: "HTTP listen address", EnvVars: []string{"AXIS_HTTP"}},
			&cli.StringFlag{Name: "brokers", Usage: "Kafka bootstrap brokers host:port,... (none: embedded development broker)", EnvVars: []string{"AXIS_BROKERS"}},
			&cli.StringFlag{Name: "embedded-broker", Value: axis.DefaultBrokerAdr, Usage: "address of the embedded broker", EnvVars: []string{"AXIS_EMBEDDED_BROKER"}},
			&cli.BoolFlag{Name: "embedded-broker-nosync", Usage: "embedded broker: no fsync per batch (faster; a machine crash may lose seconds)", EnvVars: []string{"AXIS_EMBEDDED_BROKER_NOSYNC"}},
			&cli.StringFlag{Name: "drop-dir", Usage: "drop directory (incoming/, accepted/, rejected/)", EnvVars: []string{"AXIS_DROP_DIR"}},
			&cli.StringFlag{Name: "registry", Usage: "agency registry (JSON; read again on SIGHUP: new agencies get their inbox topics)", Required: true, EnvVars: []string{"AXIS_REGISTRY"}},
			&cli.StringFlag{Name: "trust", Usage: "trusted roots, intermediates, CRLs (file or directory; read again when it changes, and on SIGHUP)", Required: true, EnvVars: []string{"AXIS_TRUST"}},
			&cli.StringFlag{Name: "identity-key", Usage: "the daemon's signing key (receipts, audit checkpoints)", Required: true, EnvVars: []string{"AXIS_IDENTITY_KEY"}},
			&cli.StringFlag{Name: "identity-cert", Usage: "the daemon's certificate (and chain)", Required: true, EnvVars: []string{"AXIS_IDENTITY_CERT"}},
			&cli.BoolFlag{Name: "secure-cookies", Usage: "the portal is reached over HTTPS through a TLS-terminating proxy: mark its cookies Secure and send HSTS", EnvVars: []string{"AXIS_SECURE_COOKIES"}},
			&cli.BoolFlag{Name: "allow-sha1", Usage: "accept legacy SHA-1 signatures and SHA-1-signed certificates (recorded as legacy)", EnvVars: []string{"AXIS_ALLOW_SHA1"}},
			&cli.Int64Flag{Name: "max-package-bytes", Value: envelope.DefaultMaxBytes, Usage: "largest package accepted", EnvVars: []string{"AXIS_MAX_PACKAGE_BYTES"}},
			&cli.StringFlag{Name: "kafka-tls-ca", Usage: "CA file to verify the brokers' TLS certificates (enables TLS)", EnvVars: []string{"AXIS_KAFKA_TLS_CA"}},
			&cli.StringFlag{Name: "kafka-sasl-mechanism", Usage: "plain, scram-sha-256 or scram-sha-512", EnvVars: []string{"AXIS_KAFKA_SASL_MECHANISM"}},
			&cli.StringFlag{Name: "kafka-username", EnvVars: []string{"AXIS_KAFKA_USERNAME"}},
			&cli.StringFlag{Name: "kafka-password", Usage: "use the AXIS_KAFKA_PASSWORD environment variable", EnvVars: []string{"AXIS_KAFKA_PASSWORD"}},
			&cli.DurationFlag{Name: "checkpoint-interval", Value: time.Minute, Usage: "longest wait for a signed audit checkpoint while running", EnvVars: []string{"AXIS_CHECKPOINT_INTERVAL"}},
			&cli.DurationFlag{Name: "shutdown-grace", Value: 15 * time.Second, Usage: "bound on a graceful shutdown", EnvVars: []string{"AXIS_SHUTDOWN_GRACE"}},
			&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "auto (console on a terminal, else JSON), json or console", EnvVars: []string{"AXIS_LOG_FORMAT"}},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"AXIS_LOG_LEVEL"}},
			&cli.StringFlag{Name: "pprof", Usage: "serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (keep it private)", EnvVars: []string{"AXIS_PPROF"}},
		},
		Action: func(c *cli.Context) error {
			log, err := logging.New(logging.Config{Format: c.String("log-format"), Level: c.String("log-level")})
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			defer log.Sync()
			if os.Getenv("GOGC") == "" {
				// The heap is small (tens of MB) and mostly short-lived request garbage:
				// collecting half as often cost 5% of the CPU per package in the profile.
				debug.SetGCPercent(200)
			}
			if addr := c.String("pprof"); addr != "" {
				if err := servePprof(addr, log); err != nil {
					return cli.Exit(err.Error(), 2)
				}
			}
			cfg := axis.Config{
				DataDir: c.String("data-dir"), HTTPAddr: c.String("http"), Brokers: splitList(c.String("brokers")),
				EmbeddedBroker: c.String("embedded-broker"), BrokerNoSync: c.Bool("embedded-broker-nosync"),
				DropDir: c.String("drop-dir"), RegistryFile: c.String("registry"), TrustPath: c.String("trust"),
				IdentityKey: c.String("identity-key"), IdentityCert: c.String("identity-cert"), AllowSHA1: c.Bool("allow-sha1"),
				SecureCookies:   c.Bool("secure-cookies"),
				MaxPackageBytes: c.Int64("max-package-bytes"), KafkaTLSCA: c.String("kafka-tls-ca"),
				SASLMechanism: c.String("kafka-sasl-mechanism"), KafkaUser: c.String("kafka-username"),
				KafkaPassword: c.String("kafka-password"), ShutdownGrace: c.Duration("shutdown-grace"), CheckpointInterval: c.Duration("checkpoint-interval"), Logger: log,
			}
			// The first signal starts a graceful shutdown; a second one ends the process.
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }()
			if err := serve(ctx, cfg, axis.Options{}, log); err != nil {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}

// serve runs the daemon until ctx ends. When the store stopped writing (a full or failing
// disk) and the data directory has room again, Run returns axis.ErrRecover: the daemon
// starts anew in this process, which recovers the store, retrying with backoff if that
// start fails. Errors are logged.
func serve(ctx context.Context, cfg axis.Config, opts axis.Options, log *zap.Logger) error {
	recovering := false
	retry := time.Second
	// SIGHUP reads --trust (new CRLs, roots) and --registry (new agencies) again; a failed
	// read keeps the one in use. Registered once, so that no SIGHUP between two daemons
	// ends the process.
	var cur atomic.Pointer[axis.Daemon]
	defer onSIGHUP(func() {
		if d := cur.Load(); d != nil {
			d.ReloadTrust("SIGHUP")
			d.ReloadRegistry(ctx, "SIGHUP")
		}
	})()
	for {
		d, err := axis.New(ctx, cfg, opts)
		if err != nil {
			if !recovering || ctx.Err() != nil {
				log.Error("cannot start", zap.Error(err))
				return err
			}
			log.Error("cannot start the axis again to recover its store; retrying", zap.Duration("retry_in", retry), zap.Error(err))
			select {
			case <-ctx.Done(): // asked to stop meanwhile
				return nil
			case <-time.After(retry):
			}
			retry = min(2*retry, 30*time.Second)
			continue
		}
		cur.Store(d)
		err = d.Run(ctx)
		if errors.Is(err, axis.ErrRecover) {
			if ctx.Err() != nil { // asked to stop meanwhile: the next start recovers
				return nil
			}
			log.Warn("starting the axis again in this process to recover its store")
			recovering, retry = true, time.Second
			continue
		}
		if err != nil {
			log.Error("stopped with an error", zap.Error(err))
		}
		return err
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
