package store

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// TestDiskPerPackage stores AXIS_STORE_DISK_N packages of 5 KB (default 100,000 when the
// variable is set, skipped otherwise: it writes ~700 MB) and reports bytes per package.
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
	body := make([]byte, 5120)
	rand.Read(body)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				b := append([]byte{}, body...)
				copy(b, strconv.AppendInt(nil, i, 10))
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
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	per := float64(fi.Size()) / float64(n)
	t.Logf("%d packages of %d bytes (2 recipients each): file %d bytes, %.0f bytes/package = %.2f× (%.0f bytes over the package)",
		n, len(body), fi.Size(), per, per/float64(len(body)), per-float64(len(body)))
}
