package verify

import (
	"os"
	"path/filepath"
	"testing"

	"axis/axis/errs"
)

// FuzzCheck: whatever the bytes, Check never panics, every refusal carries a public code,
// and anything accepted names a registered sender.
func FuzzCheck(f *testing.F) {
	for _, c := range loadCorpus(f) {
		if b, err := os.ReadFile(filepath.Join(corpusDir, c.File)); err == nil {
			f.Add(b)
		}
	}
	samples, _ := filepath.Glob("../../testdata/edxml/*.edxml")
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	chk := corpusChecker(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := chk.Check(b)
		if err != nil {
			var e *errs.Error
			if code := errs.CodeOf(err); code == errs.Internal || code == "" {
				t.Fatalf("refusal without a public code: %v (%T)", err, e)
			}
			return
		}
		if res.From == "" || res.DocumentID == "" || res.Signed == nil {
			t.Fatalf("accepted without sender or document id: %+v", res)
		}
	})
}
