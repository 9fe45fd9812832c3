package axis

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/dropdir"
	"axis/axis/errs"
	"axis/axis/portal"
	"axis/axis/registry"
	"axis/axis/token"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
	"axis/store/audit"
)

// Daemon is a running axis. New opens everything; Run serves until its context ends,
// then shuts down in reverse order.
type Daemon struct {
	cfg      Config
	log      *zap.Logger
	m        *metrics
	store    *store.Store
	bus      bus.Bus
	ownBus   bool               // created here, so closed here
	broker   *broker.Broker     // nil with --brokers
	registry *registry.Registry // replaced in place by ReloadRegistry
	regMu    sync.Mutex         // one ReloadRegistry at a time
	intake   *Intake
	keyring  *token.Keyring
	// checkpoints verifies audit checkpoint signatures (GET /v1/audit/verify).
	checkpoints audit.CheckpointVerifier
	portal      *portal.Portal // the HTML portal, mounted at / by routes
	drop        *dropdir.Dir   // nil without --drop-dir
	listener    net.Listener
	server      *http.Server

	dispatchWake, auditWake wakeup
	topicsLater             []string          // topics New could not create (Kafka unreachable): Run retries
	verifier                *signing.Verifier // intake's; its trust store is reloaded (trust.go)
	trustMu                 sync.Mutex        // serialises trust reloads
	stopCRLWatch            func()            // while Run runs; guarded by trustMu
	storeStopped            chan error        // the store stopped writing (recover.go)
	recoverNow              chan struct{}     // Run stops with ErrRecover
	shutting                atomic.Bool
	closeOnce               sync.Once
	closeErr                error
}

// Options are test seams; production leaves them zero.
type Options struct {
	Bus        bus.Bus              // use this bus instead of Kafka (tests)
	StoreHooks func(*store.Options) // adjust store options (fault injection in tests)
}

// New opens the store, the trust material, the bus (starting the embedded broker when no
// --brokers are given) and binds the HTTP listener, so that "ready" means ready.
func New(ctx context.Context, cfg Config, opts Options) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, m: newMetrics(), dispatchWake: newWakeup(), auditWake: newWakeup(),
		storeStopped: make(chan error, 1), recoverNow: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.registry, err = registry.Load(cfg.RegistryFile); err != nil {
		return nil, err
	}
	d.m.regAgencies.Set(float64(d.registry.Len()))
	ts, err := signing.LoadTrust(cfg.TrustPath)
	if err != nil {
		return nil, err
	}
	d.verifier = signing.NewVerifier(ts, signing.Options{AllowSHA1: cfg.AllowSHA1, Logger: d.log})
	d.checkpoints = verify.CheckpointsFrom(d.verifier.Trust, "")
	d.m.trustLoaded.SetToCurrentTime()
	identity, err := loadIdentity(cfg.IdentityKey, cfg.IdentityCert)
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(identity, d.verifier); err != nil {
		return nil, fmt.Errorf("--identity-key %s, --identity-cert %s: %w", cfg.IdentityKey, cfg.IdentityCert, err)
	}
	if sn := identity.Cert.Subject.SerialNumber; sn != "axis" {
		d.log.Warn("the identity certificate's subject serialNumber is not \"axis\": receipts and audit checkpoints verify only where it is pinned (axis verify --identity-cert, axis audit verify --identity-cert)",
			zap.String("serial_number", sn))
	}
	if d.keyring, err = token.LoadOrCreate(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	sopts := store.Options{Logger: d.log, // the store names its logger
		Checkpoints: audit.SignerFunc(identity.SignBytes),
		OnBatch: func(b store.BatchStats) {
			d.m.batchOps.Observe(float64(b.Ops))
			d.m.writerBusy.Add(b.Busy.Seconds())
			d.m.writerRun.Add(b.Run.Seconds())
			if b.Sync > 0 {
				d.m.logSync.Observe(b.Sync.Seconds())
			}
		},
		OnCheckpoint: func(took time.Duration) { d.m.checkpoint.Observe(took.Seconds()) },
		// The writer wakes the dispatcher when a commit added deliveries (packages, statuses).
		OnOutbox: func() { d.dispatchWake.wake() },
		OnFail: func(err error) {
			d.m.storeStopped.Set(1)
			select {
			case d.storeStopped <- err:
			default:
			}
		},
		// Receipts an unclean stop lost are rebuilt by Open, as the intake built them.
		Receipt: func(doc store.Document) ([]byte, error) { return acceptanceReceipt(identity, doc) }}
	if opts.StoreHooks != nil {
		opts.StoreHooks(&sopts)
	}
	if d.store, err = store.Open(cfg.DataDir, sopts); err != nil {
		return nil, err
	}
	d.m.watchLog(d.store)
	d.m.watchOutbox(d.store)
	switch {
	case opts.Bus != nil:
		d.bus = opts.Bus
	default:
		brokers := cfg.Brokers
		if len(brokers) == 0 {
			dir := filepath.Join(cfg.DataDir, "broker")
			d.broker, err = broker.Start(ctx, broker.Config{Addr: cfg.EmbeddedBroker, DataDir: dir, NoSync: cfg.BrokerNoSync,
				Logger: d.log.Named("broker")})
			if err != nil {
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
			d.log.Info("embedded development broker (kfake) running; use --brokers for a real Kafka cluster",
				zap.String("addr", d.broker.Addr()), zap.String("data_dir", dir), zap.Bool("fsync", !cfg.BrokerNoSync))
			brokers = []string{d.broker.Addr()}
		}
		kb, err := kafkabus.New(kafkabus.Config{Brokers: brokers, TLSCAFile: cfg.KafkaTLSCA, SASLMechanism: cfg.SASLMechanism,
			Username: cfg.KafkaUser, Password: cfg.KafkaPassword, Logger: d.log.Named("kafka")})
		if err != nil {
			return nil, err
		}
		d.bus, d.ownBus = kb, true
	}
	topics := []string{TopicStatus, TopicAudit, TopicDLQ}
	for _, id := range d.registry.IDs() {
		topics = append(topics, InboxTopic(id))
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.bus.EnsureTopics(tctx, topics...); err != nil {
		if ctx.Err() != nil || !errs.CodeOf(err).Transient() {
			return nil, fmt.Errorf("creating topics: %w", err)
		}
		// Kafka down while the daemon (re)starts: intake must not depend on it (SPEC §8).
		d.log.Error("Kafka unreachable at start: accepting into the store; topics are created and deliveries sent once it is back (check --brokers if this lasts)",
			zap.Strings("brokers", cfg.Brokers), zap.Error(err))
		d.topicsLater = topics
	}
	checker := verify.New(d.verifier, d.registry, envelope.Limits{MaxBytes: cfg.MaxPackageBytes})
	d.intake = &Intake{checker: checker, store: d.store, identity: identity, log: d.log.Named("intake"), m: d.m,
		verifySlots: make(chan struct{}, verifyParallelism())}
	if cfg.DropDir != "" {
		// Opened here so that a second daemon on the same directory fails at start.
		d.drop, err = dropdir.Open(dropdir.Config{Dir: cfg.DropDir, MaxBytes: cfg.MaxPackageBytes, Logger: d.log.Named("drop"),
			Refused: func(ctx context.Context, err error) { d.intake.Refused(ctx, err, SourceDrop) },
			Submit: func(ctx context.Context, b []byte) (dropdir.Answer, error) {
				a, err := d.intake.SubmitPackage(ctx, b, SourceDrop)
				return dropdir.Answer{DocumentID: a.DocumentID, SHA256: a.SHA256, AuditSeq: a.AuditSeq, Existing: a.Existing}, err
			}})
		if err != nil {
			return nil, fmt.Errorf("--drop-dir: %w", err)
		}
	}
	if d.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("--http %s: %w", cfg.HTTPAddr, err)
	}
	if d.portal, err = portal.New(portal.Config{Store: d.store, Registry: d.registry, Keyring: d.keyring,
		Checkpoints: d.checkpoints, Logger: d.log.Named("portal"), MaxPackageBytes: cfg.MaxPackageBytes,
		SecureCookies: cfg.SecureCookies}); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	d.server = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: zap.NewStdLog(d.log.Named("http"))}
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		brokers = []string{cfg.EmbeddedBroker + " (embedded)"}
	}
	d.log.Info("axis ready", zap.String("http", "http://"+d.listener.Addr().String()), zap.String("data_dir", cfg.DataDir),
		zap.Strings("brokers", brokers), zap.Int("agencies", d.registry.Len()), zap.Int("topics", len(topics)),
		zap.String("trust", ts.Summary()))
	return d, nil
}

func loadIdentity(keyFile, certFile string) (*signing.Signer, error) {
	key, err := devpki.LoadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--identity-key: %w", err)
	}
	certs, err := devpki.LoadCertificates(certFile)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("--identity-cert %s: %v", certFile, err)
	}
	return &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}, nil
}

// checkIdentity proves at start that the axis can sign what its own trust verifies: the
// key is the certificate's, and the certificate chains to --trust, is valid now and may
// sign. Otherwise every submission would be stored, routed and then answered 500 (no
// receipt), and every checkpoint would break the audit log.
func checkIdentity(id *signing.Signer, v *signing.Verifier) error {
	pub, ok := id.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(id.Key.Public()) {
		return errors.New("the key is not the certificate's")
	}
	probe, err := id.SignBytes([]byte(`<axisIdentityProbe xmlns="urn:axis:probe"></axisIdentityProbe>`))
	if err != nil {
		return fmt.Errorf("signing with the identity: %w", err)
	}
	doc, err := envelope.ReadDocument(probe, envelope.DefaultLimits())
	if err == nil {
		_, err = v.Verify(doc)
	}
	if err != nil {
		return fmt.Errorf("what the identity signs does not verify against --trust: %w", err)
	}
	return nil
}

// Addr is the HTTP address actually bound (useful with port 0).
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Intake is the submission entry point (the drop directory uses it).
func (d *Daemon) Intake() *Intake { return d.intake }

// Run serves until ctx is done, then shuts down within the grace period.
func (d *Daemon) Run(ctx context.Context) error {
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	intakeCtx, stopIntake := context.WithCancel(ctx)
	defer stopIntake()

	var routing, consumers sync.WaitGroup
	disp := &dispatcher{store: d.store, pub: d.bus, log: d.log.Named("dispatch"), m: d.m, wake: d.dispatchWake, audit: d.auditWake,
		ensure: d.bus.EnsureTopics}
	ap := &auditPublisher{store: d.store, pub: d.bus, log: d.log.Named("audit"), m: d.m, wake: d.auditWake}
	sc := &statusConsumer{intake: d.intake, bus: d.bus, log: d.log.Named("status"), m: d.m}
	loops, stopLoops := context.WithCancel(work)
	defer stopLoops()
	topicsReady := make(chan struct{})
	if len(d.topicsLater) == 0 {
		close(topicsReady)
	} else {
		go d.createTopicsLater(loops, topicsReady)
	}
	afterTopics := func(run func(stop, work context.Context)) {
		defer routing.Done()
		select {
		case <-topicsReady:
			run(loops, work)
		case <-loops.Done():
		}
	}
	defer d.startCRLWatch()()
	routing.Add(2)
	go func() { defer routing.Done(); d.watchTrust(loops) }()
	go func() { defer routing.Done(); d.recoverWhenWritable(loops) }()
	routing.Add(2)
	go afterTopics(disp.run)
	go afterTopics(ap.run)
	routing.Add(2)
	go func() { defer routing.Done(); d.checkpointLoop(loops) }()
	go func() { defer routing.Done(); d.releaseLoop(loops) }()
	consumers.Add(1)
	go func() { defer consumers.Done(); sc.run(intakeCtx) }()
	if d.drop != nil {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			if err := d.drop.Run(intakeCtx); err != nil && intakeCtx.Err() == nil {
				d.log.Error("drop directory stopped", zap.Error(err))
			}
		}()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(d.listener) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http: %w", err)
	case <-d.recoverNow:
		runErr = ErrRecover
	}

	// Shutdown, in reverse order and bounded: fail /readyz, stop intake, drain, flush,
	// checkpoint, close.
	deadline, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	defer cancel()
	d.shutting.Store(true)
	d.log.Info("shutting down", zap.Duration("grace", d.cfg.ShutdownGrace))
	if err := d.server.Shutdown(deadline); err != nil {
		d.log.Warn("http requests still running at the deadline", zap.Error(err))
	}
	stopIntake()
	consumers.Wait()
	// The loops finish what they are sending before the final flush reads the outbox and
	// the audit cursor again; running both at once published the same events twice.
	stopLoops()
	stopWorkAtDeadline := context.AfterFunc(deadline, stopWork)
	recovering := errors.Is(runErr, ErrRecover)
	if recovering {
		// The store takes no writes: nothing being sent can be marked sent, and all of
		// it is sent again after the recovery. Waiting for it only delays the recovery.
		stopWork()
	}
	routing.Wait()
	stopWorkAtDeadline()
	if !recovering { // else nothing could be recorded: no flush, no final checkpoint
		select {
		case <-topicsReady:
			d.flush(deadline, disp, ap)
		default: // nowhere to publish: the outbox waits for the next start
			if _, err := d.store.Checkpoint(deadline); err != nil {
				d.log.Warn("final audit checkpoint failed", zap.Error(err))
			}
		}
	}
	stopWork()
	if err := d.close(); err != nil && runErr == nil {
		runErr = err
	}
	d.log.Info("stopped")
	return runErr
}

// createTopicsLater creates the topics New could not, retrying until Kafka answers.
func (d *Daemon) createTopicsLater(ctx context.Context, ready chan<- struct{}) {
	var bo backoff
	for {
		err := d.bus.EnsureTopics(ctx, d.topicsLater...)
		if err == nil {
			d.log.Info("Kafka reachable: topics created, deliveries start", zap.Int("topics", len(d.topicsLater)))
			close(ready)
			return
		}
		if !sleep(ctx, bo.next()) {
			return
		}
	}
}

// every runs fn every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// checkpointLoop signs an audit checkpoint every CheckpointInterval (the store skips it
// when nothing happened since the last one), so a live export is attested too.
func (d *Daemon) checkpointLoop(ctx context.Context) {
	every(ctx, d.cfg.CheckpointInterval, func() {
		if _, err := d.store.Checkpoint(ctx); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("periodic audit checkpoint failed", zap.Error(err))
			}
			return
		}
		d.auditWake.wake()
	})
}

// The store's pages mapped in the resident set are kept near mappedBudget: every
// releaseTick in which the process's mapped files hold more, the next part of the store
// file is dropped (store.ReleaseMapped), a tenth per multiple of the budget, so the whole
// file within a second or less under load. What stays mapped is what was read since: a
// fixed cycle (a fifth of the file a second) let it grow with the rate and the store, to
// 191-205 MB after 200,000 packages at 3,000 packages/s (make bench-rss), most of them
// read again within a second: the random-keyed buckets (docs, deliv, sha) and the pages
// each commit wrote anew. Below the budget nothing is dropped, so a quiet axis keeps its
// pages and faults none back.
const (
	releaseTick   = 100 * time.Millisecond
	releaseSlices = 10
	mappedBudget  = 64 << 20
)

// releaseLoop keeps the daemon's RSS to its working set: without it the RSS grows by
// the store's size, all of it page cache, which container limits and monitoring count.
func (d *Daemon) releaseLoop(ctx context.Context) {
	r := &releaser{st: d.store, resident: store.ResidentFileBytes, budget: mappedBudget}
	var warned time.Time
	every(ctx, releaseTick, func() {
		// At most a warning a minute: a stopped store fails every step until it recovers.
		if err := r.step(ctx); err != nil && ctx.Err() == nil && time.Since(warned) >= time.Minute {
			warned = time.Now()
			d.log.Warn("releasing the store's mapped pages failed", zap.Error(err))
		}
	})
}

// releaser drops the store's mapped pages, a tenth of the file a step or more, in the
// steps that find the resident mapped files over budget.
type releaser struct {
	st interface {
		MappedSize(context.Context) (int64, error)
		ReleaseMapped(ctx context.Context, from, n int64) (int64, error)
	}
	resident func() (int64, error)
	budget   int64
	from     int64 // where the next slice starts
}

func (r *releaser) step(ctx context.Context) error {
	// A tenth of the file per multiple of the budget the mapped files hold (at most 4):
	// at full speed the pages read within one walk of the file are more than the budget.
	slices := int64(1)
	if res, err := r.resident(); err == nil {
		if res <= r.budget {
			return nil
		}
		slices = min(res/r.budget, 4)
	}
	size, err := r.st.MappedSize(ctx)
	if err != nil || size == 0 {
		return err
	}
	r.from, err = r.st.ReleaseMapped(ctx, r.from, max(size*slices/releaseSlices, 1<<20))
	return err
}

// flush publishes what is pending (deliveries, then the audit log with a final
// checkpoint) until done or the deadline; what is left stays in the outbox for the
// next start.
func (d *Daemon) flush(ctx context.Context, disp *dispatcher, ap *auditPublisher) {
	for ctx.Err() == nil {
		n, err := disp.once(ctx)
		if err != nil || n == 0 {
			break
		}
	}
	if _, err := d.store.Checkpoint(ctx); err != nil {
		d.log.Warn("final audit checkpoint failed", zap.Error(err))
	}
	for ctx.Err() == nil {
		n, err := ap.once(ctx)
		if err != nil || n == 0 {
			break
		}
	}
	if depth, err := d.store.PendingDeliveries(context.Background(), 0, 1); err == nil && len(depth) > 0 {
		d.log.Warn("deliveries left in the outbox; they are sent at the next start")
	}
}

// close releases everything New opened, in reverse order. Idempotent.
func (d *Daemon) close() error {
	d.closeOnce.Do(func() {
		var errList []error
		if d.listener != nil {
			d.listener.Close()
		}
		if d.drop != nil {
			errList = append(errList, d.drop.Close())
		}
		if d.store != nil {
			errList = append(errList, d.store.Close())
		}
		if d.bus != nil && d.ownBus {
			errList = append(errList, d.bus.Close())
		}
		if d.broker != nil {
			errList = append(errList, d.broker.Close())
		}
		d.closeErr = errors.Join(errList...)
	})
	return d.closeErr
}
