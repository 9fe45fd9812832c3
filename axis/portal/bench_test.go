package portal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis/token"
	"axis/store"
)

// benchDocs is the size of the benchmark store; benchVersion names its cached data
// directory (change it when the way the data is built changes).
const (
	benchDocs    = 100_000
	benchVersion = "v1"
)

// benchStore opens (building it the first time, which takes a while) a store of
// benchDocs documents spread over 30 days: every agency of the registry sends to two
// others, one document in ten urgent. It is cached under os.TempDir() across runs.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	reg := loadRegistry(b)
	dir := filepath.Join(os.TempDir(), "axis-portal-bench-"+benchVersion)
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		os.RemoveAll(dir)
		tmp := dir + ".building"
		os.RemoveAll(tmp)
		start := time.Now().Add(-30 * 24 * time.Hour)
		var clock atomic.Int64
		st, err := store.Open(tmp, store.Options{Logger: zap.NewNop(), Now: func() time.Time {
			return start.Add(time.Duration(clock.Load()) * 25 * time.Second)
		}})
		if err != nil {
			b.Fatal(err)
		}
		ids := reg.IDs()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 256 { // concurrent writers: the store commits them in groups
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= benchDocs && !b.Failed(); i = int(next.Add(1)) {
					clock.Store(int64(i))
					from := ids[i%len(ids)]
					d := doc{ID: fmt.Sprintf("%s,2026/11/%02d,%d/VP", from, 1+i%28, i), From: from,
						To:      []string{ids[(i+1)%len(ids)], ids[(i+5)%len(ids)]},
						Subject: fmt.Sprintf("Công văn số %d về việc triển khai chuyển đổi số năm 2026", i), Notation: "VP"}
					if i%10 == 0 {
						d.Priority = 1
					}
					if _, err := acceptErr(b, st, d); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if err := st.Close(); err != nil || b.Failed() {
			b.Fatalf("building the bench store: %v", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.Open(dir, store.Options{Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkListPage measures the server time of one inbox page (50 rows, urgency
// lookups included) over a store of 100,000 documents. Target: ≤ 50 ms.
func BenchmarkListPage(b *testing.B) {
	st := benchStore(b)
	reg := loadRegistry(b)
	keys := token.New([]byte("0123456789abcdef0123456789abcdef"))
	p, err := New(Config{Store: st, Registry: reg, Keyring: keys, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := keys.Issue(token.Claims{Agency: police, Expires: time.Now().Add(time.Hour).Unix()})
	for _, bc := range []struct{ name, query string }{
		{"first", ""},
		{"counterpart", "?counterpart=" + reg.IDs()[len(reg.IDs())-1]}, // one of G01's two senders
		{"text", "?q=" + "12345"},
		{"dates", "?since=" + time.Now().In(vietnam).AddDate(0, 0, -20).Format("2006-01-02") + "&until=" +
			time.Now().In(vietnam).AddDate(0, 0, -10).Format("2006-01-02")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rows int
			for b.Loop() {
				req := httptest.NewRequest("GET", "/inbox"+bc.query, nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				rows = strings.Count(w.Body.String(), `<a href="/documents/`)
			}
			b.ReportMetric(float64(rows), "rows")
		})
	}
	// The store's share: the same first page and text search without the portal.
	for _, bc := range []struct {
		name string
		f    store.Filter
	}{{"store-first", store.Filter{}}, {"store-text", store.Filter{Text: "12345"}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.ListAgency(b.Context(), police, store.In, bc.f, "", pageSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuditPage measures /audit over the same store: "verify" is the background
// refresh (the whole chain verified, every checkpoint read) that the first view after
// new events starts; "page" serves a page from the cached verification.
func BenchmarkAuditPage(b *testing.B) {
	st := benchStore(b)
	reg := loadRegistry(b)
	keys := token.New([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := keys.Issue(token.Claims{Auditor: true, Expires: time.Now().Add(time.Hour).Unix()})
	newPortal := func() *Portal {
		p, err := New(Config{Store: st, Registry: reg, Keyring: keys, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("verify", func(b *testing.B) {
		var events uint64
		for b.Loop() {
			p := newPortal()
			p.refreshAudit(make(chan struct{}))
			if p.auditCache.report == nil || p.auditCache.report.Break != nil {
				b.Fatalf("verification failed: %+v", p.auditCache)
			}
			events = p.auditCache.report.Events
		}
		b.ReportMetric(float64(events), "events")
	})
	b.Run("page", func(b *testing.B) {
		p := newPortal()
		p.refreshAudit(make(chan struct{}))
		for b.Loop() {
			req := httptest.NewRequest("GET", "/audit", nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
			w := httptest.NewRecorder()
			p.ServeHTTP(w, req)
			if w.Code != 200 || !strings.Contains(w.Body.String(), "Chuỗi toàn vẹn") {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
