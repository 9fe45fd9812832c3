package axis

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the daemon's Prometheus series (SPEC §6: names prefixed axis_). Each
// daemon has its own registry so tests can run several.
type metrics struct {
	reg         *prometheus.Registry
	intake      *prometheus.CounterVec   // source, kind, result
	verify      prometheus.Histogram     // seconds
	storeCommit *prometheus.HistogramVec // op
	publish     *prometheus.HistogramVec // stream: deliveries | audit | dlq
	published   *prometheus.CounterVec   // kind
	batchOps    prometheus.Histogram
	writerBusy  prometheus.Counter // seconds
	writerRun   prometheus.Counter // seconds
	checkpoint  prometheus.Histogram
	logSync     prometheus.Histogram
	// crlNextUpdate: issuer; when its freshest CRL is past its next update (see watchCRLs)
	crlNextUpdate *prometheus.GaugeVec
	trustReloads  *prometheus.CounterVec // result: ok, error
	trustLoaded   prometheus.Gauge
	regReloads    *prometheus.CounterVec // result: ok, error
	regAgencies   prometheus.Gauge
	storeStopped  prometheus.Gauge // 1 once the store stopped writing (recover.go)
}

func newMetrics() *metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 16) // 100 µs .. 3.3 s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "axis_intake_total",
			Help: "Submissions by source (http, drop, kafka), kind (edoc, status) and result (accepted, duplicate, or the error code)."},
			[]string{"source", "kind", "result"}),
		verify: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "axis_verify_seconds",
			Help: "Time to verify one submission (parse, signature, chain, envelope, registry).", Buckets: buckets}),
		storeCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "axis_store_commit_seconds",
			Help: "Time for a store write to become durable, by operation.", Buckets: buckets}, []string{"op"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "axis_kafka_publish_seconds",
			Help: "Time for Kafka to acknowledge a publish batch, by stream.", Buckets: buckets}, []string{"stream"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "axis_published_total",
			Help: "Messages acknowledged by Kafka, by kind (edoc, status, audit, dlq)."}, []string{"kind"}),
		batchOps: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "axis_store_batch_ops",
			Help: "Operations per store transaction (group commit).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		writerBusy: prometheus.NewCounter(prometheus.CounterOpts{Name: "axis_store_writer_busy_seconds_total",
			Help: "Time the store's single writer spent committing; its rate near 1 means the store is the bottleneck."}),
		writerRun: prometheus.NewCounter(prometheus.CounterOpts{Name: "axis_store_writer_run_seconds_total",
			Help: "Part of the writer's busy time spent running operations (the rest is writing and fsync)."}),
		checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "axis_store_checkpoint_seconds",
			Help: "Time of a store checkpoint (bbolt's file and the blob log synced in the background, about once a second); it bounds how much write-ahead log a restart replays.", Buckets: buckets}),
		logSync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "axis_store_log_sync_seconds",
			Help: "Time a store batch waited for its write-ahead record's fsync after bbolt committed it: the disk's latency as submissions see it.", Buckets: buckets}),
		crlNextUpdate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "axis_trust_crl_next_update_timestamp_seconds",
			Help: "When the freshest loaded CRL of each issuer is due to be replaced (Unix time); past it, certificates revoked since are unknown to the axis until its current CRL is installed in --trust."}, []string{"issuer"}),
		trustReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "axis_trust_reloads_total",
			Help: "Reloads of --trust (on a file change or SIGHUP), by result; on error the trust store in use stays."}, []string{"result"}),
		trustLoaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "axis_trust_loaded_timestamp_seconds",
			Help: "When the trust store in use was read (Unix time)."}),
		regReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "axis_registry_reloads_total",
			Help: "Reloads of --registry (SIGHUP), by result; on error the registry in use stays."}, []string{"result"}),
		regAgencies: prometheus.NewGauge(prometheus.GaugeOpts{Name: "axis_registry_agencies",
			Help: "Agencies in the registry in use."}),
		storeStopped: prometheus.NewGauge(prometheus.GaugeOpts{Name: "axis_store_stopped",
			Help: "1 once the store stopped writing after a failed durable write (full or failing disk): submissions are answered 503 until the data directory is writable again and the axis restarts itself."}),
	}
	// Both results from the start, at 0: an alert on errors needs the series to exist.
	m.trustReloads.WithLabelValues("ok")
	m.trustReloads.WithLabelValues("error")
	m.regReloads.WithLabelValues("ok")
	m.regReloads.WithLabelValues("error")
	m.reg.MustRegister(m.intake, m.verify, m.storeCommit, m.publish, m.published, m.batchOps, m.writerBusy, m.writerRun, m.checkpoint, m.logSync, m.crlNextUpdate, m.trustReloads, m.trustLoaded, m.regReloads, m.regAgencies, m.storeStopped)
	// SPEC §6: every name prefixed axis_, the runtime's too (axis_go_goroutines, ...).
	prometheus.WrapRegistererWithPrefix("axis_", m.reg).MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchOutbox adds the outbox's depth, read from the store at each scrape: set by the
// dispatcher instead, it stood still while a publish hung on a broker outage, just
// when an operator watches it. A scrape never waits for the disk: while a commit's fsync
// holds reads back for longer than outboxScrapeWait, it shows the last depth read.
func (m *metrics) watchOutbox(s interface {
	OutboxDepthNow(context.Context) (uint64, bool, error)
}) {
	var last atomic.Int64
	last.Store(-1)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "axis_outbox_depth",
		Help: "Deliveries (packages and statuses) accepted but not yet acknowledged by Kafka (-1: the store could not be read)."},
		func() float64 {
			deadline := time.Now().Add(outboxScrapeWait)
			for {
				n, ok, err := s.OutboxDepthNow(context.Background())
				switch {
				case err != nil:
					return -1
				case ok:
					last.Store(int64(n))
					return float64(n)
				case time.Now().After(deadline):
					return float64(last.Load())
				}
				time.Sleep(time.Millisecond)
			}
		}))
}

// outboxScrapeWait bounds how long a scrape tries to read the outbox's depth: a commit's
// fsync takes about a millisecond, unless the disk stalls.
const outboxScrapeWait = 100 * time.Millisecond

// watchLog adds the store's write-ahead log on disk, read at each scrape.
func (m *metrics) watchLog(s interface {
	LogFiles() (int, int64, error)
}) {
	files := func(bytes bool) func() float64 {
		return func() float64 {
			n, size, err := s.LogFiles()
			switch {
			case err != nil:
				return -1
			case bytes:
				return float64(size)
			}
			return float64(n)
		}
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "axis_store_wal_segments",
			Help: "Write-ahead log segments on disk; checkpoints delete the old ones, so a growing count means checkpoints fail (-1: the directory could not be read)."}, files(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "axis_store_wal_bytes",
			Help: "Disk space of the write-ahead log's segments (initialised ahead of the appends)."}, files(true)))
}
