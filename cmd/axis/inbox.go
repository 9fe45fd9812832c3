package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"axis/axis/agency"
	"axis/axis/errs"
	"axis/axis/logging"
	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
)

func init() { register(inboxCommand()) }

// kafkaFlags are the broker flags of the agency and auditor tools, as `axis serve` has them.
func kafkaFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "brokers", Value: "127.0.0.1:9092", Usage: "Kafka bootstrap brokers host:port,... (the default is the embedded development broker's address)", EnvVars: []string{"AXIS_BROKERS"}},
		&cli.StringFlag{Name: "kafka-tls-ca", Usage: "CA file to verify the brokers' TLS certificates (enables TLS)", EnvVars: []string{"AXIS_KAFKA_TLS_CA"}},
		&cli.StringFlag{Name: "kafka-sasl-mechanism", Usage: "plain, scram-sha-256 or scram-sha-512", EnvVars: []string{"AXIS_KAFKA_SASL_MECHANISM"}},
		&cli.StringFlag{Name: "kafka-username", EnvVars: []string{"AXIS_KAFKA_USERNAME"}},
		&cli.StringFlag{Name: "kafka-password", Usage: "use the AXIS_KAFKA_PASSWORD environment variable", EnvVars: []string{"AXIS_KAFKA_PASSWORD"}},
	}
}

func kafkaConfig(c *cli.Context) agency.KafkaConfig {
	return agency.KafkaConfig{Brokers: splitList(c.String("brokers")), TLSCAFile: c.String("kafka-tls-ca"),
		SASLMechanism: c.String("kafka-sasl-mechanism"), Username: c.String("kafka-username"), Password: c.String("kafka-password")}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "auto, json or console (logs go to stderr)", EnvVars: []string{"AXIS_LOG_FORMAT"}},
		&cli.StringFlag{Name: "log-level", Value: "warn", EnvVars: []string{"AXIS_LOG_LEVEL"}},
	}
}

func inboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "inbox",
		Usage: "receive an agency's packages: verify each end to end, write it to --out, answer 01 (arrived), signed",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "agency", Usage: "this agency's OrganId (its inbox topic and consumer group)", Required: true, EnvVars: []string{"AXIS_AGENCY"}},
			&cli.StringFlag{Name: "key", Usage: "the agency's private key (PEM), signs the 01 answers", Required: true, EnvVars: []string{"AXIS_AGENCY_KEY"}},
			&cli.StringFlag{Name: "cert", Usage: "the agency's certificate (PEM)", Required: true, EnvVars: []string{"AXIS_AGENCY_CERT"}},
			&cli.StringFlag{Name: "chain", Usage: "intermediate certificates to include in the answers (PEM)", EnvVars: []string{"AXIS_AGENCY_CHAIN"}},
			&cli.StringFlag{Name: "out", Usage: "directory the packages are written to (statuses in status/, answers in sent/, what is refused here in refused/ with a .error.json)", Required: true, EnvVars: []string{"AXIS_INBOX_OUT"}},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep consuming until interrupted (default: stop once caught up)", EnvVars: []string{"AXIS_INBOX_FOLLOW"}},
			&cli.BoolFlag{Name: "retry-refused", Usage: "first handle again what refused/ holds (after fixing --registry, --trust or a limit), and again after each SIGHUP: written and answered now, or kept with the new reason", EnvVars: []string{"AXIS_INBOX_RETRY_REFUSED"}},
			&cli.StringFlag{Name: "trust", Usage: "trusted roots, intermediates and CRLs (PEM file or directory; read again on SIGHUP)", Required: true, EnvVars: []string{"AXIS_TRUST"}},
			&cli.StringFlag{Name: "registry", Usage: "agency registry (JSON; read again on SIGHUP); without it senders are bound by serialNumber only", EnvVars: []string{"AXIS_REGISTRY"}},
			&cli.BoolFlag{Name: "allow-sha1", Usage: "accept legacy SHA-1 signatures and SHA-1-signed certificates", EnvVars: []string{"AXIS_ALLOW_SHA1"}},
			&cli.Int64Flag{Name: "max-package-bytes", Value: envelope.DefaultMaxBytes, Usage: "size limit", EnvVars: []string{"AXIS_MAX_PACKAGE_BYTES"}},
		}, kafkaFlags()...), logFlags()...),
		Action: inboxAction,
	}
}

func inboxAction(c *cli.Context) error {
	log, err := logging.New(logging.Config{Format: c.String("log-format"), Level: c.String("log-level")})
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	defer log.Sync()
	id := c.String("agency")
	signer, err := loadSigner(c.String("key"), c.String("cert"), c.String("chain"))
	if err != nil {
		return err
	}
	ts, err := signing.LoadTrust(c.String("trust"))
	if err != nil {
		return err
	}
	var reg *registry.Registry
	var fingerprints []string
	if p := c.String("registry"); p != "" {
		if reg, err = registry.Load(p); err != nil {
			return err
		}
		if err := reg.Require("agency", id); err != nil {
			return cli.Exit("inbox: "+err.Error(), 2)
		}
		fingerprints = reg.Fingerprints(id)
	}
	if err := agency.CheckBinding(signer.Cert, id, fingerprints); err != nil {
		return cli.Exit(fmt.Sprintf("inbox: --cert cannot sign for %s: %v", id, err), 2)
	}
	organ := envelope.Organization{OrganID: id}
	if reg != nil {
		organ.OrganName = reg.Name(id)
	}
	kc := kafkaConfig(c)
	b, err := kc.Bus(log.Named("kafka"))
	if err != nil {
		return cli.Exit("inbox: "+err.Error(), 2)
	}
	defer b.Close()
	positions, err := kc.Offsets()
	if err != nil {
		return cli.Exit("inbox: "+err.Error(), 2)
	}
	var mu sync.Mutex
	// What the exit status reports: refusals not since handled by a retry (a refusal of
	// altered bytes, not kept, can never be).
	keptFiles := map[string]bool{} // files refused/ holds for refusals reported by this run
	var lost bool
	out := c.App.Writer
	verifier := signing.NewVerifier(ts, signing.Options{AllowSHA1: c.Bool("allow-sha1"), Logger: log})
	in, err := agency.NewInbox(agency.Config{
		Agency: id, Dir: c.String("out"), Signer: signer, Organ: organ, Publisher: b, Logger: log.Named("inbox"),
		Verifier: verifier, Registry: reg, Limits: envelope.Limits{MaxBytes: c.Int64("max-package-bytes")},
		Report: func(e agency.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case agency.Arrived:
				fmt.Fprintf(out, "ARRIVED %s from %s -> %s\n", e.DocumentID, e.From, e.File)
			case agency.Status:
				meaning, _ := envelope.StatusMeaning(e.Code)
				fmt.Fprintf(out, "STATUS %s (%s) %s from %s -> %s\n", e.Code, meaning, e.DocumentID, e.From, e.File)
			case agency.Duplicate:
				fmt.Fprintf(out, "DUPLICATE %s from %s (already in %s)\n", e.DocumentID, e.From, e.File)
			case agency.Refused:
				kept := ""
				if e.File != "" {
					kept = " -> " + e.File
					keptFiles[e.File] = true
				} else {
					lost = true
				}
				fmt.Fprintf(out, "REFUSED %s/%d@%d %s: %s: %s%s\n", e.Topic, e.Partition, e.Offset, orNone(e.DocumentID),
					errs.CodeOf(e.Err), oneLine(errs.ToBody(e.Err).Error.Message), kept)
			}
		},
	})
	if err != nil {
		return cli.Exit("inbox: "+err.Error(), 2)
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	retry := func() error {
		res, err := in.RetryRefused(ctx)
		fmt.Fprintf(c.App.ErrWriter, "inbox %s: refused/ retried: %d handled now, %d still refused\n", id, res.Handled, res.Refused)
		return err
	}
	// A long-running inbox takes new CRLs, CAs and agencies without a restart: kill -HUP
	// reads --registry and --trust again and, with --retry-refused, handles refused/
	// again under them.
	defer onSIGHUP(func() {
		if p := c.String("registry"); p != "" {
			// Replaced in place: the inbox holds this registry. A failed read keeps it.
			next, err := registry.Load(p)
			if err == nil { // what the start refuses, a reload refuses too
				if err = next.Require("agency", id); err == nil {
					err = agency.CheckBinding(signer.Cert, id, next.Fingerprints(id))
				}
			}
			if err != nil {
				log.Error("registry not reloaded; the one in use stays", zap.String("registry", p), zap.Error(err))
			} else {
				ch := reg.Replace(next)
				log.Info("registry reloaded", zap.String("registry", p), zap.Strings("added", ch.Added),
					zap.Strings("removed", ch.Removed), zap.Strings("changed", ch.Changed))
			}
		}
		if reloadTrust(c.String("trust"), verifier, log) == nil && c.Bool("retry-refused") {
			if err := retry(); err != nil {
				log.Error("retrying refused/ after SIGHUP", zap.Error(err))
			}
		}
	})()
	if c.Bool("retry-refused") {
		if err := retry(); err != nil {
			return err
		}
	}
	topic := agency.InboxTopic(id)
	log.Info("consuming", zap.String("topic", topic), zap.Bool("follow", c.Bool("follow")))
	err = agency.Consume(ctx, b, in.Handle, agency.ConsumeOptions{Topic: topic, Group: id, Follow: c.Bool("follow"),
		Positions: positions, Logger: log.Named("consume")})
	n := in.Counts()
	fmt.Fprintf(c.App.ErrWriter, "inbox %s: %d arrived, %d statuses, %d duplicates, %d refused\n", id, n.Arrived, n.Statuses, n.Duplicates, n.Refused)
	if err != nil {
		return err
	}
	mu.Lock()
	// Still refused: kept and not since removed by a retry (which removes what it
	// handles, and reports again what it refuses). Read from refused/ itself, so that no
	// retry's answer can hide a refusal reported while it ended.
	failed := lost
	for p := range keptFiles {
		if _, err := os.Stat(p); err == nil {
			failed = true
		}
	}
	mu.Unlock()
	if failed {
		return cli.Exit("", 1)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(no document id)"
	}
	return s
}
