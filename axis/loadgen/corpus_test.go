package loadgen

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

const registryFile = "../../testdata/agencies.json"

// testPKI is one ECDSA dev PKI for the package's tests (RSA key generation is slow).
var testPKI = sync.OnceValues(func() (string, error) {
	dir, err := tempDir()
	if err != nil {
		return "", err
	}
	reg, err := registry.Load(registryFile)
	if err != nil {
		return "", err
	}
	return dir, devpki.Init(dir, reg.IDs(), devpki.Options{KeyType: devpki.ECDSA})
})

func pki(t testing.TB) (string, *registry.Registry) {
	t.Helper()
	dir, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(registryFile)
	if err != nil {
		t.Fatal(err)
	}
	return dir, reg
}

func checker(t testing.TB, dir string, reg *registry.Registry) *verify.Checker {
	t.Helper()
	ts, err := signing.LoadTrust(devpki.RootCertPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	return verify.New(signing.NewVerifier(ts, signing.Options{}), reg, envelope.Limits{})
}

func corpusConfig(t testing.TB, n, size, k int) CorpusConfig {
	dir, reg := pki(t)
	signers, err := LoadSigners(dir, reg.IDs())
	if err != nil {
		t.Fatal(err)
	}
	return CorpusConfig{Agencies: reg.IDs(), Signers: signers, N: n, Size: size, Recipients: k, RunID: "test", Seed: 42}
}

func TestBuildCorpus(t *testing.T) {
	dir, reg := pki(t)
	chk := checker(t, dir, reg)
	for _, tt := range []struct {
		name       string
		n, size, k int
		minSize    int // the package cannot be smaller than its headers and signature
	}{
		{"5KB to 3", 40, 5000, 3, 0},
		{"20KB to 1", 10, 20000, 1, 0},
		{"to every other agency", 5, 8000, reg.Len() - 1, 0},
		{"smaller than the headers", 5, 100, 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := corpusConfig(t, tt.n, tt.size, tt.k)
			var progressed int
			var mu sync.Mutex
			cfg.Progress = func(d int) { mu.Lock(); progressed = max(progressed, d); mu.Unlock() }
			items, err := BuildCorpus(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tt.n || progressed != tt.n {
				t.Fatalf("%d items, progress %d, want %d", len(items), progressed, tt.n)
			}
			shas, ids := map[string]bool{}, map[string]bool{}
			for i, it := range items {
				if shas[it.SHA256] || ids[it.DocumentID] {
					t.Fatalf("item %d repeats a sha256 or DocumentId", i)
				}
				shas[it.SHA256], ids[it.DocumentID] = true, true
				if tt.minSize == 0 && (len(it.Bytes) < tt.size-64 || len(it.Bytes) > tt.size+64) {
					t.Errorf("item %d: %d bytes, want about %d", i, len(it.Bytes), tt.size)
				}
				if len(it.To) != tt.k {
					t.Fatalf("item %d: %d recipients, want %d", i, len(it.To), tt.k)
				}
				seen := map[string]bool{}
				for _, r := range it.To {
					if r == it.From || seen[r] || !contains(reg.IDs(), r) {
						t.Fatalf("item %d from %s: bad recipient list %v", i, it.From, it.To)
					}
					seen[r] = true
				}
				res, err := chk.Check(it.Bytes)
				if err != nil {
					t.Fatalf("item %d does not verify: %v", i, err)
				}
				if res.From != it.From || res.DocumentID != it.DocumentID || res.SHA256 != it.SHA256 ||
					!equal(res.Package.Recipients(), it.To) {
					t.Fatalf("item %d verified as %s from %s to %v, built as %s from %s to %v", i,
						res.DocumentID, res.From, res.Package.Recipients(), it.DocumentID, it.From, it.To)
				}
			}
		})
	}
}

func TestBuildCorpusSameSeedSameCorpus(t *testing.T) {
	cfg := corpusConfig(t, 8, 3000, 2)
	a, err := BuildCorpus(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 1
	b, err := BuildCorpus(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].DocumentID != b[i].DocumentID || a[i].From != b[i].From || !equal(a[i].To, b[i].To) {
			t.Fatalf("item %d differs between runs with seed %d", i, cfg.Seed)
		}
	}
}

func TestBuildCorpusRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*CorpusConfig)
	}{
		{"no packages", func(c *CorpusConfig) { c.N = 0 }},
		{"no recipients", func(c *CorpusConfig) { c.Recipients = 0 }},
		{"more recipients than agencies", func(c *CorpusConfig) { c.Recipients = len(c.Agencies) }},
		{"no signers", func(c *CorpusConfig) { c.Signers = nil }},
		{"signer outside the registry", func(c *CorpusConfig) { c.Agencies = c.Agencies[1:] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := corpusConfig(t, 3, 3000, 2)
			tt.edit(&cfg)
			if _, err := BuildCorpus(context.Background(), cfg); errs.CodeOf(err) != errs.BadRequest {
				t.Fatalf("err = %v, want bad_request", err)
			}
		})
	}
}

func TestMeasureVerify(t *testing.T) {
	dir, reg := pki(t)
	chk := checker(t, dir, reg)
	items, err := BuildCorpus(context.Background(), corpusConfig(t, 20, 5000, 3))
	if err != nil {
		t.Fatal(err)
	}
	rate, err := MeasureVerify(context.Background(), chk, items, 2)
	if err != nil || rate <= 0 {
		t.Fatalf("rate %g, err %v", rate, err)
	}
	// One altered byte in the signed content: the corpus is refused before any submission.
	bad := append([]Item(nil), items...)
	b := bytes.Clone(bad[7].Bytes)
	i := bytes.Index(b, []byte("Văn bản thử tải"))
	b[i] = 'W'
	bad[7].Bytes = b
	if _, err := MeasureVerify(context.Background(), chk, bad, 2); errs.CodeOf(err) != errs.SignatureInvalid {
		t.Fatalf("tampered corpus: err = %v, want signature_invalid", err)
	}
	if _, err := MeasureVerify(context.Background(), chk, nil, 2); err == nil {
		t.Fatal("empty corpus measured")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
