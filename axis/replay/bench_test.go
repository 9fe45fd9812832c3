package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"axis/store/audit"
)

// BenchmarkReplay verifies and folds an audit log of 10,000 deliveries (accepted,
// published, 01, forwarded: 4 events each); the metric is events per second.
func BenchmarkReplay(b *testing.B) {
	var c audit.Chain
	var log bytes.Buffer
	n := 0
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("000.00.00.G22,2026/11/22,%d/NĐ-CP", i)
		sum := fmt.Sprintf("%064x", i)
		for _, e := range []audit.Event{
			{Type: audit.Accepted, DocumentID: id, From: g22, To: h41, SHA256: sum},
			{Type: audit.Published, DocumentID: id, From: g22, To: h41, SHA256: sum},
			{Type: audit.Status, DocumentID: id, From: h41, To: g22, Code: "01", SHA256: strings.Repeat("1", 60) + fmt.Sprintf("%04x", i%65536)},
			{Type: audit.Forwarded, DocumentID: id, From: h41, To: g22, Code: "01"},
		} {
			e.Time = t0
			log.Write(c.Next(&e))
			log.WriteByte('\n')
			n++
		}
	}
	b.SetBytes(int64(log.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := Run(context.Background(), Reader{bytes.NewReader(log.Bytes())}, Options{})
		if err != nil || h.Break != nil || h.Report.Events != uint64(n) {
			b.Fatalf("%v %v", err, h.Break)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
