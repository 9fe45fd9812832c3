package dropdir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkDropAccept measures files through the directory with a submitter that costs
// nothing: renames, reads and the two directory fsyncs per file (the floor under the
// real intake, whose verification and store commit come on top).
func BenchmarkDropAccept(b *testing.B) {
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			dir := b.TempDir()
			f := newFake()
			d, err := Open(Config{Dir: dir, Submit: f.submit, Workers: workers, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			defer func() { cancel(); <-done }()
			dropInto(b, dir, "warmup", "ok warmup")
			waitFor(b, "warmup", func() bool { _, err := os.Stat(filepath.Join(dir, Accepted, "warmup")); return err == nil })
			payload := make([]byte, 8<<10)
			b.ResetTimer()
			for i := range b.N {
				p := filepath.Join(dir, fmt.Sprintf(".f%08d", i))
				if err := os.WriteFile(p, append([]byte(fmt.Sprintf("ok %d ", i)), payload...), 0o644); err != nil {
					b.Fatal(err)
				}
				if err := os.Rename(p, filepath.Join(dir, Incoming, fmt.Sprintf("f%08d", i))); err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, "all accepted", func() bool {
				l, _ := os.ReadDir(filepath.Join(dir, Incoming))
				return len(f.allCalls()) == b.N+1 && len(l) == 0
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
