package store

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkGroupCommit measures durable audit events per second (each RecordRejected
// returns only after its fsync) with 1, 8 and 64 concurrent writers.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openStore(b, b.TempDir())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := s.RecordRejected(ctx, Rejection{Code: "malformed_xml", SHA256: "00", Detail: "bench"}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkAccept measures durable package acceptances per second with 64 writers
// (5 KB packages, 2 recipients: 1 audit event, 2 outbox entries, 2 deliveries each).
func BenchmarkAccept(b *testing.B) {
	s := openStore(b, b.TempDir())
	body := make([]byte, 5120)
	rand.Read(body)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				req := AcceptRequest{Meta: DocumentMeta{DocumentID: "D" + strconv.FormatInt(i, 10), From: vpcp, To: []string{bca, tn}, Subject: "bench"},
					Bytes: append(strconv.AppendInt(nil, i, 10), body...)}
				if _, err := s.Accept(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packages/s")
}

// TestDiskPerPackage stores AXIS_STORE_DISK_N packages of AXIS_STORE_DISK_SIZE bytes
// (default 5120), publishes every delivery, and reports bytes per package. Skipped unless
// the variable is set (100,000 packages write ~1 GB).
func TestDiskPerPackage(t *testing.T) {
	nEnv := os.Getenv("AXIS_STORE_DISK_N")
	if nEnv == "" {
		t.Skip("set AXIS_STORE_DISK_N=100000 to measure store growth")
	}
	n, err := strconv.Atoi(nEnv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	size := 5120
	if v := os.Getenv("AXIS_STORE_DISK_SIZE"); v != "" {
		if size, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	body := make([]byte, size)
	rand.Read(body)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				b := append([]byte{}, body...)
				copy(b, fmt.Sprintf("%08d", i))
				req := AcceptRequest{Meta: DocumentMeta{DocumentID: "000.00.00.G22,2026/03/12," + strconv.FormatInt(i, 10) + "/VPCP-TTĐT",
					From: vpcp, To: []string{bca, tn}, Subject: "Về việc thử nghiệm dung lượng lưu trữ", CodeNumber: strconv.FormatInt(i, 10), CodeNotation: "VPCP-TTĐT"},
					Bytes: b}
				if _, err := s.Accept(ctx, req); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Steady state: every delivery acknowledged by Kafka (outbox empty, published events).
	for {
		ob, err := s.PendingDeliveries(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ob) == 0 {
			break
		}
		ids := make([]uint64, len(ob))
		for i, e := range ob {
			ids[i] = e.ID
		}
		if err := s.MarkPublished(ctx, ids...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	bi, err := os.Stat(filepath.Join(dir, BlobFileName))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ro.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			alloc := st.BranchAlloc + st.LeafAlloc
			t.Logf("bucket %-9s keys %7d  alloc %10d (%6.0f B/package)  in use %10d", name, st.KeyN, alloc, float64(alloc)/float64(n), st.BranchInuse+st.LeafInuse)
		}
		st := ro.db.Stats()
		t.Logf("free pages %d, high water %d pages", st.FreePageN+st.PendingPageN, tx.Size()/int64(ro.db.Info().PageSize))
		return nil
	})
	ro.Close()
	// A writable open after a clean close reads the freelist Close wrote; one after a crash
	// reads the one its checkpoint's commit wrote (without either it walks the tree: 0.4 s
	// here for 200,000 packages).
	checkpointed := make(chan struct{}, 1)
	start := time.Now()
	rw, err := Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: time.Hour,
		testCheckpointed: func() { checkpointed <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writable open of the %d-byte store after a clean close: %v", fi.Size(), time.Since(start))
	rw.ckNow.Store(true)
	must[AcceptResult](t)(rw.Accept(ctx, pkg("after-checkpoint", vpcp, []string{bca}, "x")))
	<-checkpointed
	must[AcceptResult](t)(rw.Accept(ctx, pkg("before-crash", vpcp, []string{bca}, "y")))
	rw.crashForTest()
	start = time.Now()
	rebuilt := 0
	rw, err = Open(dir, Options{Checkpoints: fakeSigner(), Receipt: func(d Document) ([]byte, error) {
		rebuilt++
		return receipt(d.AuditSeq, d.AcceptedAt)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writable open after a crash (recovery): %v", time.Since(start))
	if rw.repairDone == nil {
		t.Fatal("no receipt repair after a crash")
	}
	<-rw.repairDone
	t.Logf("receipt repair after the crash, in the background: %d documents examined, %d receipts rebuilt, in %v",
		n+2, rebuilt, time.Since(start))
	// Again, with every receipt stored: the cost of the walk alone.
	rw.crashForTest()
	rebuilt = 0
	rw, err = Open(dir, Options{Checkpoints: fakeSigner(), Receipt: func(d Document) ([]byte, error) {
		rebuilt++
		return receipt(d.AuditSeq, d.AcceptedAt)
	}})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	<-rw.repairDone
	t.Logf("receipt repair with every receipt stored: %d rebuilt, in %v", rebuilt, time.Since(start))
	rw.Close()
	per := float64(fi.Size()+bi.Size()) / float64(n)
	t.Logf("%d packages of %d bytes (2 recipients, all published): bbolt %d + blob log %d bytes = %.0f bytes/package = %.2f× (%.0f bytes over the package)",
		n, len(body), fi.Size(), bi.Size(), per, per/float64(len(body)), per-float64(len(body)))
	// The blob log is initialised ahead of its end (blobPrealloc at a time): past the
	// packages' bytes, at most that much.
	if want := int64(n * len(body)); bi.Size() < want || bi.Size() > want+2*blobPrealloc {
		t.Fatalf("blob log file is %d bytes, want the %d bytes of the packages and at most %d initialised ahead", bi.Size(), want, 2*blobPrealloc)
	}
}

var (
	listOnce  sync.Once
	listStore *Store
	listDir   string
)

// listFixture is a store with 100,000 documents from vpcp to bca (and every 10th to tn),
// shared by the list benchmarks.
func listFixture(b *testing.B) *Store {
	listOnce.Do(func() {
		dir, err := os.MkdirTemp("", "axis-list-bench")
		if err != nil {
			b.Fatal(err)
		}
		listDir = dir
		s, err := Open(dir, Options{Checkpoints: fakeSigner()})
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 256 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= 100000; i = next.Add(1) {
					to := []string{bca}
					if i%10 == 0 {
						to = append(to, tn)
					}
					subject := "Về việc triển khai kế hoạch số " + strconv.FormatInt(i, 10)
					if i == 4242 {
						subject = "Về việc hiếm gặp"
					}
					req := AcceptRequest{Meta: DocumentMeta{DocumentID: "000.00.00.G22,2026/03/12," + strconv.FormatInt(i, 10) + "/VPCP",
						From: vpcp, To: to, Subject: subject, CodeNumber: strconv.FormatInt(i, 10), CodeNotation: "VPCP-TTĐT"},
						Bytes: []byte("<edXML>" + strconv.FormatInt(i, 10) + "</edXML>")}
					if _, err := s.Accept(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		listStore = s
	})
	if listStore == nil {
		b.Fatal("fixture failed")
	}
	return listStore
}

// BenchmarkListAgency pages through an inbox of 100,000 documents.
func BenchmarkListAgency(b *testing.B) {
	s := listFixture(b)
	cases := []struct {
		name   string
		agency string
		dir    Direction
		f      Filter
		want   int
	}{
		{"first page", bca, In, Filter{}, 50},
		{"outbox first page", vpcp, Out, Filter{}, 50},
		{"counterpart 1 in 10", vpcp, Out, Filter{Counterpart: tn}, 50},
		{"text rare (full scan)", bca, In, Filter{Text: "hiếm gặp"}, 1},
		{"state none (full scan)", bca, In, Filter{State: StateCompleted}, 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := s.ListAgency(ctx, tc.agency, tc.dir, tc.f, "", 50)
				if err != nil || len(p.Items) != tc.want {
					b.Fatalf("%v %d", err, len(p.Items))
				}
			}
		})
	}
	b.Run("page 1000 via cursors", func(b *testing.B) {
		p, _ := s.ListAgency(ctx, bca, In, Filter{}, "", 50)
		for b.Loop() {
			n, err := s.ListAgency(ctx, bca, In, Filter{}, p.Next, 50)
			if err != nil || len(n.Items) != 50 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPipeline is the daemon's store workload: 64 submitters accept 5 KB packages
// for 3 recipients each (with a receipt), while one dispatcher reads the outbox and marks
// each page published, as the daemon does. It reports packages through the whole store
// cycle per second, operations per transaction and how busy the single writer was.
func BenchmarkPipeline(b *testing.B) {
	var batches, ops atomic.Int64
	var busy atomic.Int64
	s := openStore(b, b.TempDir(), func(o *Options) {
		o.OnBatch = func(st BatchStats) {
			batches.Add(1)
			ops.Add(int64(st.Ops))
			busy.Add(int64(st.Busy))
		}
	})
	body := make([]byte, 5120)
	rand.Read(body)
	rc := make([]byte, 1500) // about an ECDSA receipt
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				req := AcceptRequest{Meta: DocumentMeta{DocumentID: "000.00.00.G22,2026/03/12," + strconv.FormatInt(i, 10) + "/VPCP-TTĐT",
					From: vpcp, To: []string{bca, tn, btc}, Subject: "Về việc thử nghiệm", CodeNumber: strconv.FormatInt(i, 10), CodeNotation: "VPCP-TTĐT"},
					Bytes:   append(strconv.AppendInt(nil, i, 10), body...),
					Receipt: func(uint64, time.Time) ([]byte, error) { return rc, nil }}
				if _, err := s.Accept(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	published := 0
	for published < 3*b.N && !b.Failed() {
		page, err := s.PendingDeliveries(ctx, 0, 256)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		ids := make([]uint64, len(page))
		for i, e := range page {
			ids[i] = e.ID
		}
		if err := s.MarkPublished(ctx, ids...); err != nil {
			b.Fatal(err)
		}
		published += len(ids)
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "packages/s")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(ops.Load())/float64(n), "ops/batch")
	}
	b.ReportMetric(float64(busy.Load())/float64(el), "writer-busy")
	// CPU per package does not depend on what else the machine runs; packages/s does.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/pkg")
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
