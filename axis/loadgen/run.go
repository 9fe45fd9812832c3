// Package loadgen is `axis loadgen` (SPEC §5): it signs a corpus of distinct packages,
// measures how fast this machine verifies it in-process, then submits it to a running
// axis over HTTP while consuming every recipient's inbox topic, and reports end-to-end
// throughput and latency against that verification rate.
//
// Latency of a package is the arrival of its copy at the LAST of its recipients minus
// the start of its submission: what a sender waits until everyone has it. In open-loop
// mode (Rate > 0) the start is the moment the submission was due, not when a free
// connection picked it up, so a saturated axis shows as latency instead of silently
// lowering the offered rate (no coordinated omission). Arrival is when the loadgen's
// reader received the record from the broker.
package loadgen

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"axis/axis/agency"
	"axis/axis/client"
	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// Config is one run.
type Config struct {
	Server      string // the axis, http://host:port
	PKIDir      string // dev PKI (axis pki init): root.pem and agencies/<id>.key/.pem
	Registry    *registry.Registry
	N           int     // packages (default 1000)
	Size        int     // bytes per signed package, about (default 5000)
	Recipients  int     // per package (default 3)
	Rate        float64 // packages per second offered, open loop; 0: as fast as answered
	Concurrency int     // submissions in flight at most (default 64)
	Kafka       agency.KafkaConfig
	// LostAfter is how long deliveries may take after the last submission was answered
	// before the missing ones count as lost (default 30 s).
	LostAfter time.Duration
	Seed      uint64 // corpus; 0: random
	// CPUProfile, if set, receives a CPU profile of the submission phase only (the
	// corpus signing would drown it).
	CPUProfile io.Writer
	// Latencies, if set, receives every package's latencies as CSV (tracker.writeCSV).
	Latencies io.Writer
	// Progress, if set, receives a progress bar (a terminal: carriage returns).
	Progress io.Writer
	Logger   *zap.Logger
}

func (c *Config) defaults() error {
	if c.N == 0 {
		c.N = 1000
	}
	if c.Size == 0 {
		c.Size = 5000
	}
	if c.Recipients == 0 {
		c.Recipients = 3
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.LostAfter <= 0 {
		c.LostAfter = 30 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	switch {
	case c.Registry == nil:
		return errs.Field(errs.BadRequest, "registry", "required")
	case c.PKIDir == "":
		return errs.Field(errs.BadRequest, "pki", "required")
	case c.Rate < 0:
		return errs.Field(errs.BadRequest, "rate", "must not be negative")
	case c.Size < 0:
		return errs.Field(errs.BadRequest, "size", "must not be negative")
	}
	return nil
}

// Run signs the corpus, measures verification, submits and waits for the deliveries.
// A run whose packages are refused or lost still returns its Result (with Errors and
// Lost); an error means the run itself could not be made (bad configuration, no
// broker, a corpus that does not verify).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	log := cfg.Logger
	ids := cfg.Registry.IDs()
	signers, err := LoadSigners(cfg.PKIDir, ids)
	if err != nil {
		return Result{}, err
	}
	names := map[string]string{}
	for _, id := range ids {
		names[id] = cfg.Registry.Name(id)
	}
	if _, err := client.New(cfg.Server); err != nil { // before signing: the real one is sized to the corpus
		return Result{}, err
	}

	bar := newProgress(cfg.Progress, "signing", cfg.N)
	signStart := time.Now()
	items, err := BuildCorpus(ctx, CorpusConfig{Agencies: ids, Names: names, Signers: signers, N: cfg.N, Size: cfg.Size,
		Recipients: cfg.Recipients, RunID: strconv.FormatUint(cfg.Seed, 36), Seed: cfg.Seed, Progress: bar.set})
	bar.done()
	if err != nil {
		return Result{}, err
	}
	res := Result{Packages: len(items), SignPerSec: float64(len(items)) / time.Since(signStart).Seconds(), Offered: cfg.Rate}
	total, maxBody := 0, 0
	for _, it := range items {
		total += len(it.Bytes)
		maxBody = max(maxBody, len(it.Bytes))
	}
	res.AvgBytes = total / len(items)
	cl, err := client.New(cfg.Server, client.WithHTTPClient(httpClient(cfg.Concurrency, maxBody)))
	if err != nil {
		return Result{}, err
	}

	ts, err := signing.LoadTrust(devpki.RootCertPath(cfg.PKIDir))
	if err != nil {
		return Result{}, err
	}
	chk := verify.New(signing.NewVerifier(ts, signing.Options{}), cfg.Registry, envelope.Limits{})
	if res.VerifyPerSec, err = MeasureVerify(ctx, chk, items, 0); err != nil {
		return Result{}, err
	}

	tr := newTracker(items)
	var recipients []string
	for _, id := range ids {
		for _, it := range items {
			if contains(it.To, id) {
				recipients = append(recipients, id)
				break
			}
		}
	}
	cons, err := startConsumers(ctx, cfg.Kafka, recipients, tr, log)
	if err != nil {
		return Result{}, err
	}
	defer cons.stop()

	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return Result{}, errs.Wrap(errs.Internal, err, "start the CPU profile")
		}
		defer pprof.StopCPUProfile()
	}
	bar = newProgress(cfg.Progress, "submitting", len(items))
	cpu0 := processCPU()
	subStart := time.Now()
	res.Errors, res.Unsent = submit(ctx, cl, items, tr, cfg, bar.set, log)
	subEnd := time.Now()
	bar.done()

	// Wait for the stragglers, but not beyond LostAfter after the last answer.
	deadline := time.NewTimer(cfg.LostAfter)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for !tr.complete() {
		select {
		case <-ctx.Done():
			break wait
		case <-deadline.C:
			break wait
		case <-tick.C:
		}
	}
	if cpu := processCPU() - cpu0; cpu0 >= 0 && cpu >= 0 {
		res.CPUPerPkg = cpu / time.Duration(len(items))
	}
	if err := cons.stop(); err != nil {
		log.Warn("an inbox reader failed; its deliveries count as lost", zap.Error(err))
	}
	if cfg.Latencies != nil {
		if err := tr.writeCSV(cfg.Latencies); err != nil {
			log.Warn("writing the latencies failed", zap.Error(err))
		}
	}
	t := tr.tally()
	res.Accepted, res.Delivered, res.Lost, res.Duplicates = t.accepted, t.delivered, t.lost, t.dups
	res.SubmitPerSec = float64(len(items)-res.Errors-res.Unsent) / subEnd.Sub(subStart).Seconds()
	if t.delivered > 0 {
		res.Wall = t.last.Sub(t.first)
		res.E2EPerSec = float64(t.delivered) / res.Wall.Seconds()
		res.P50, res.P95, res.P99 = summarise(t.latencies)
		res.PubP50, res.PubP95, res.PubP99 = summarise(t.published)
	}
	if len(t.answers) > 0 {
		res.AnsP50, res.AnsP95, res.AnsP99 = summarise(t.answers)
	}
	return res, ctx.Err()
}

// submit sends every item, at full speed or at cfg.Rate, with at most cfg.Concurrency
// in flight, and returns the number of failed submissions and of items not sent because
// ctx ended first (an interrupt: the submissions in flight then still get their answer).
func submit(ctx context.Context, cl *client.Client, items []Item, tr *tracker, cfg Config, progress func(int), log *zap.Logger) (failed, unsent int) {
	var nfailed, answered atomic.Int64
	var logged atomic.Int64
	one := func(i int, start time.Time) {
		tr.submitted(i, start)
		// Not cancelled with ctx: a package sent is answered, and counted as what it is.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		// Only the answer's document_id and sha256 are decoded: they say which package
		// was accepted; the receipt in the answer is not the loadgen's concern.
		a, err := cl.SubmitPackageAck(rctx, items[i].Bytes)
		cancel()
		switch {
		case err != nil:
		case a.SHA256 != items[i].SHA256:
			err = errs.E(errs.Internal, "the axis answered for sha256 %s, sent %s", a.SHA256, items[i].SHA256)
		case a.DocumentID != items[i].DocumentID:
			err = errs.E(errs.Internal, "the axis answered for document %s, sent %s", a.DocumentID, items[i].DocumentID)
		}
		tr.answered(i, err == nil, time.Now())
		if err != nil {
			nfailed.Add(1)
			if logged.Add(1) <= 5 { // the first few say why; the count says how many
				log.Warn("submission failed", zap.String("document_id", items[i].DocumentID), zap.Error(err))
			}
		}
		progress(int(answered.Add(1)))
	}
	var wg sync.WaitGroup
	if cfg.Rate <= 0 {
		var next atomic.Int64
		for w := 0; w < cfg.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					one(i, time.Now())
				}
			}()
		}
		wg.Wait()
		return int(nfailed.Load()), max(0, len(items)-int(answered.Load()))
	}
	// Open loop: item i is due at t0 + i/Rate whatever happened to the others. It waits
	// for a free worker if all cfg.Concurrency are busy, and its latency still counts
	// from when it was due. Long-lived workers, not a goroutine per item: a new
	// goroutine's stack grows again through every HTTP call (measured: 8% of the
	// loadgen's CPU at 500/s).
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job)
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				one(j.i, j.due)
			}
		}()
	}
	t0 := time.Now()
	interval := float64(time.Second) / cfg.Rate
	timer := time.NewTimer(time.Hour)
	timer.Stop() // armed below per item (Go 1.23 timers: no stale tick after Stop)
feed:
	for i := range items {
		due := t0.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- job{i, due}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return int(nfailed.Load()), max(0, len(items)-int(answered.Load()))
}

// httpClient keeps one connection per concurrent submission alive (the default
// transport keeps 2 per host, so 64 workers would open and close connections all the
// time and measure the TCP handshake and TIME_WAIT instead of the axis). Its write
// buffer holds a whole request of the corpus's size, headers included, so that a
// request is one write to the socket rather than a buffer's worth and then the rest.
func httpClient(conc, maxBody int) *http.Client {
	tr := &http.Transport{
		WriteBufferSize:     min(maxBody+4<<10, 1<<20),
		ReadBufferSize:      16 << 10, // an answer with its receipt, in one read
		DisableCompression:  true,     // the answers are small; no gzip negotiation
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr}
}

// LoadSigners reads the dev PKI's key and certificate of every agency in ids that has
// both files; agencies without them do not send (they may still receive).
func LoadSigners(dir string, ids []string) (map[string]*signing.Signer, error) {
	out := map[string]*signing.Signer{}
	for _, id := range ids {
		key, err := devpki.LoadKey(devpki.AgencyKeyPath(dir, id))
		if err != nil {
			continue
		}
		certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(dir, id))
		if err != nil || len(certs) == 0 {
			continue
		}
		out[id] = &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	}
	if len(out) == 0 {
		return nil, errs.Field(errs.BadRequest, "pki", "%s: no agency key+certificate under agencies/ (run axis pki init --dir %s --registry ...)", dir, dir)
	}
	return out, nil
}
