package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/agency"
	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/signing/devpki"
)

// BenchmarkRatioFloor bounds `ratio` (SPEC §5: e2e_per_s / verify_per_s, both on all
// cores of this machine) from above, by four costs no axis can skip for a package, each
// measured as process CPU per package: its verification (what verify_per_s counts;
// RSA-2048 agency keys, 5 KB, 3 recipients, as make bench-e2e), the signature of its
// acceptance receipt (ECDSA P-256, the signature alone), one HTTP round trip of its
// bytes on loopback with net/http, client and server (the handler reads the body and
// answers 202, nothing else), and its 3 copies produced to the embedded broker kept in
// memory (pages of 1,023 copies, one Publish each, as the dispatcher at full speed) and
// read back by the load generator's consumer. Daemon, broker and load generator share the cores, so
// they make at most 1/(sum) packages per core-second end to end, and
// ratio ≤ verify / sum: "ratio-max" ("ratio-max-no-kafka" without the copies).
// Everything else (the durable store, the load generator's bookkeeping, the receipt's
// XML) only lowers it.
//
// "ecdsa-p256" signs the corpus with ECDSA agency keys instead: their verification costs
// more, which raises the bound, but the field's certificates are RSA-2048.
func BenchmarkRatioFloor(b *testing.B) {
	if processCPU() < 0 {
		b.Skip("process CPU time is not available here")
	}
	for _, kt := range []struct {
		name string
		kt   devpki.KeyType
	}{{"rsa-2048", devpki.RSA}, {"ecdsa-p256", devpki.ECDSA}} {
		b.Run(kt.name, func(b *testing.B) { ratioFloor(b, kt.kt) })
	}
}

func ratioFloor(b *testing.B, kt devpki.KeyType) {
	items, chk := floorCorpus(b, kt, 1000)
	axisKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"document_id":"000.00.00.G22,2026/11/22,1/X","sha256":"0000000000000000000000000000000000000000000000000000000000000000","accepted_at":"2026-11-22T08:00:00.000000Z","receipt_url":"/v1/receipts/0000000000000000000000000000000000000000000000000000000000000000"}`)
	}))
	defer srv.Close()
	const inFlight = 64 // as make bench-e2e
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight, MaxConnsPerHost: inFlight}}
	defer client.CloseIdleConnections()

	// phase runs op b.N times over all cores (inFlight goroutines) and returns the
	// process CPU per op.
	phase := func(op func(i int) error) time.Duration {
		var next atomic.Int64
		start := processCPU()
		done := make(chan error, inFlight)
		for range inFlight {
			go func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= b.N {
						done <- nil
						return
					}
					if err := op(i); err != nil {
						done <- err
						return
					}
				}
			}()
		}
		for range inFlight {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		return (processCPU() - start) / time.Duration(b.N)
	}
	verifyOne := func(i int) error {
		_, err := chk.Check(items[i%len(items)].Bytes)
		return err
	}
	signOne := func(i int) error {
		h := sha256.Sum256(items[i%len(items)].Bytes[:64])
		_, err := ecdsa.SignASN1(rand.Reader, axisKey, h[:])
		return err
	}
	postOne := func(i int) error {
		resp, err := client.Post(srv.URL, "application/xml", bytes.NewReader(items[i%len(items)].Bytes))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	for range min(b.N, inFlight) { // connections open before the measurement
		if err := postOne(0); err != nil {
			b.Fatal(err)
		}
	}
	br, err := broker.Start(context.Background(), broker.Config{Addr: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	kb, err := kafkabus.New(kafkabus.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	const perPage = 341 // packages: 1,023 copies
	var pages [][]bus.Message
	topics := map[string]bool{}
	for i := 0; i < len(items); i += perPage {
		var page []bus.Message
		for _, it := range items[i:min(i+perPage, len(items))] {
			for _, to := range it.To {
				topics[axis.InboxTopic(to)] = true
				page = append(page, bus.Message{Topic: axis.InboxTopic(to), Key: []byte(it.DocumentID), Value: it.Bytes,
					Headers: []bus.Header{{Key: "axis-type", Value: []byte("edoc")}, {Key: "axis-sha256", Value: []byte(it.SHA256)}}})
			}
		}
		pages = append(pages, page)
	}
	for t := range topics {
		if err := kb.EnsureTopics(context.Background(), t); err != nil {
			b.Fatal(err)
		}
	}
	// kafka sends the copies of b.N packages and reads them back with the load
	// generator's consumer (one fetch per leader for every inbox partition, headers
	// only), and returns the CPU per package.
	recipients := make([]string, 0, len(topics))
	for _, it := range items {
		for _, to := range it.To {
			if !slices.Contains(recipients, to) {
				recipients = append(recipients, to)
			}
		}
	}
	produce := func() {
		for n, p := 0, 0; n < b.N; n, p = n+len(pages[p%len(pages)])/3, p+1 {
			page := pages[p%len(pages)]
			if rest := b.N - n; rest < len(page)/3 {
				page = page[:3*rest]
			}
			if err := kb.Publish(context.Background(), page...); err != nil {
				b.Fatal(err)
			}
		}
	}
	// kafkaCopies produces the copies of b.N packages and, with read, reads them back as
	// well (while they are produced), and returns the CPU per package.
	kafkaCopies := func(read bool) time.Duration {
		if !read {
			start := processCPU()
			produce()
			return (processCPU() - start) / time.Duration(b.N)
		}
		start := processCPU()
		tr := newTracker(items)
		cons, err := startConsumers(context.Background(), agency.KafkaConfig{Brokers: []string{br.Addr()}}, recipients, tr, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		produce()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			tr.mu.Lock()
			copies := 3*tr.delivered + tr.dups
			tr.mu.Unlock()
			if copies >= 3*b.N { // a retried produce may write a copy twice
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d copies read back after a minute", copies, 3*b.N)
			}
		}
		if err := cons.stop(); err != nil {
			b.Fatal(err)
		}
		return (processCPU() - start) / time.Duration(b.N)
	}

	b.ResetTimer()
	v, s, h := phase(verifyOne), phase(signOne), phase(postOne)
	p, k := kafkaCopies(false), kafkaCopies(true)
	b.ReportMetric(float64(v.Nanoseconds()), "verify-cpu-ns/op")
	b.ReportMetric(float64(s.Nanoseconds()), "receipt-sig-cpu-ns/op")
	b.ReportMetric(float64(h.Nanoseconds()), "http-cpu-ns/op")
	b.ReportMetric(float64(p.Nanoseconds()), "produce-3-cpu-ns/op")
	b.ReportMetric(float64(k.Nanoseconds()), "produce-read-3-cpu-ns/op")
	b.ReportMetric(float64(v)/float64(v+s+h), "ratio-max-no-kafka")
	b.ReportMetric(float64(v)/float64(v+s+h+p), "ratio-max-produce-only")
	b.ReportMetric(float64(v)/float64(v+s+h+k), "ratio-max")
}

// floorCorpus signs n packages of 5 KB for 3 recipients with agency keys of type kt and
// returns them with a checker that trusts their PKI. Four agencies of the registry send
// and receive (an RSA key each is slow to generate); the checks are the same.
func floorCorpus(b *testing.B, kt devpki.KeyType, n int) ([]Item, *verify.Checker) {
	b.Helper()
	reg, err := registry.Load(registryFile)
	if err != nil {
		b.Fatal(err)
	}
	ids := reg.IDs()[:4]
	dir := b.TempDir()
	if err := devpki.Init(dir, ids, devpki.Options{KeyType: kt}); err != nil {
		b.Fatal(err)
	}
	signers, err := LoadSigners(dir, ids)
	if err != nil {
		b.Fatal(err)
	}
	items, err := BuildCorpus(context.Background(), CorpusConfig{Agencies: ids, Signers: signers,
		N: n, Size: 5000, Recipients: 3, RunID: "floor", Seed: 42})
	if err != nil {
		b.Fatal(err)
	}
	return items, checker(b, dir, reg)
}
