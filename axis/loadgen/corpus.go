package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"axis/axis/errs"
	"axis/envelope"
	"axis/signing"
)

// Item is one signed package of the corpus.
type Item struct {
	DocumentID string
	From       string
	To         []string // distinct recipients, never From
	SHA256     string   // hex of Bytes, the axis-sha256 header of every delivery
	Bytes      []byte
}

// CorpusConfig describes the packages to sign.
type CorpusConfig struct {
	Agencies   []string                   // the registry's agencies (senders and recipients)
	Names      map[string]string          // OrganId → name (optional, for realistic headers)
	Signers    map[string]*signing.Signer // one per agency that may send
	N          int                        // packages
	Size       int                        // target size of a signed package in bytes (about)
	Recipients int                        // per package, at most len(Agencies)-1
	RunID      string                     // makes the DocumentIds unique across runs
	Seed       uint64
	Workers    int // default: GOMAXPROCS
	// Progress, if set, is called with the number of packages signed so far (from
	// several goroutines, possibly out of order).
	Progress func(done int)
}

func (c *CorpusConfig) check() error {
	switch {
	case c.N <= 0:
		return errs.Field(errs.BadRequest, "n", "must be positive")
	case c.Recipients <= 0:
		return errs.Field(errs.BadRequest, "recipients", "must be positive")
	case c.Recipients > len(c.Agencies)-1:
		return errs.Field(errs.BadRequest, "recipients", "%d: the registry has only %d other agencies", c.Recipients, len(c.Agencies)-1)
	case len(c.Signers) == 0:
		return errs.E(errs.BadRequest, "no agency key to sign with")
	}
	for id := range c.Signers {
		if !contains(c.Agencies, id) {
			return errs.E(errs.BadRequest, "signer %s is not a registry agency", id)
		}
	}
	return nil
}

// BuildCorpus signs cfg.N distinct packages in parallel. Each comes from a random agency
// that has a signer, goes to cfg.Recipients other agencies, and carries one attachment
// of random bytes sized so that the signed package is about cfg.Size bytes.
func BuildCorpus(ctx context.Context, cfg CorpusConfig) ([]Item, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	senders := make([]string, 0, len(cfg.Signers))
	for _, id := range cfg.Agencies { // registry order: the corpus depends on the seed only
		if cfg.Signers[id] != nil {
			senders = append(senders, id)
		}
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// What the signature adds: measured once on a sample, so that the padding is right
	// whatever the key type (an RSA signature and certificate weigh more than ECDSA ones).
	sigBytes, err := signatureOverhead(cfg, senders[0])
	if err != nil {
		return nil, err
	}

	items := make([]Item, cfg.N)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.N {
					return
				}
				// One generator per item: the corpus is the same whatever the scheduling.
				rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
				it, err := buildOne(cfg, senders, i, sigBytes, rng)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				items[i] = it
				if d := done.Add(1); cfg.Progress != nil {
					cfg.Progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil && done.Load() < int64(cfg.N) {
		return nil, errs.Wrap(errs.Unavailable, err, "signing the corpus interrupted")
	}
	return items, nil
}

// signatureOverhead is what signing adds to a package.
func signatureOverhead(cfg CorpusConfig, sender string) (int, error) {
	c := cfg
	c.Size = 0
	rng := rand.New(rand.NewPCG(cfg.Seed, ^uint64(0)))
	it, unsigned, err := build(c, []string{sender}, 0, 0, rng)
	if err != nil {
		return 0, err
	}
	return len(it.Bytes) - unsigned, nil
}

// buildOne builds and signs package i, padded to about cfg.Size bytes once signed.
func buildOne(cfg CorpusConfig, senders []string, i, sigBytes int, rng *rand.Rand) (Item, error) {
	it, _, err := build(cfg, senders, i, sigBytes, rng)
	return it, err
}

// build makes package i and signs it; it also returns the unsigned size.
func build(cfg CorpusConfig, senders []string, i, sigBytes int, rng *rand.Rand) (Item, int, error) {
	from := senders[rng.IntN(len(senders))]
	to := pickRecipients(cfg.Agencies, from, cfg.Recipients, rng)
	p := newPackage(cfg, from, to, i)
	unsigned, err := p.Bytes()
	if err != nil {
		return Item{}, 0, errs.Wrap(errs.Internal, err, "building package %d", i)
	}
	// The attachment is four base64 characters now; make it what is missing.
	if missing := cfg.Size - sigBytes - len(unsigned); missing > 0 {
		pad := make([]byte, (missing+4)/4*3)
		for j := range pad {
			pad[j] = byte(rng.Uint32())
		}
		p.Attachments[0].Content = base64.StdEncoding.EncodeToString(pad)
		if unsigned, err = p.Bytes(); err != nil {
			return Item{}, 0, errs.Wrap(errs.Internal, err, "building package %d", i)
		}
	}
	b, err := cfg.Signers[from].SignBytes(unsigned)
	if err != nil {
		return Item{}, 0, errs.Wrap(errs.Internal, err, "signing package %d as %s", i, from)
	}
	sum := sha256.Sum256(b)
	return Item{DocumentID: p.DocumentID, From: from, To: to, SHA256: hex.EncodeToString(sum[:]), Bytes: b}, len(unsigned), nil
}

// newPackage is a decree shaped like testdata/demo/decree.edxml, numbered i+1 in this
// run's notation, with a one-byte attachment (random bytes pad it later).
func newPackage(cfg CorpusConfig, from string, to []string, i int) *envelope.Package {
	org := func(id string) envelope.Organization {
		return envelope.Organization{OrganID: id, OrganName: cfg.Names[id]}
	}
	now := time.Now()
	number := fmt.Sprintf("%d", i+1)
	notation := "LG-" + cfg.RunID
	p := &envelope.Package{
		From:             org(from),
		DocumentID:       from + "," + envelope.FormatDate(now) + "," + number + "/" + notation,
		Code:             envelope.Code{CodeNumber: number, CodeNotation: notation},
		PromulgationInfo: envelope.PromulgationInfo{Place: "Hà Nội", PromulgationDate: envelope.FormatDate(now)},
		DocumentType:     envelope.DocumentType{Type: "2", TypeDetail: "0", TypeName: "Nghị định"},
		Subject:          "Văn bản thử tải số " + number + " (axis loadgen " + cfg.RunID + ")",
		Content:          "Kiểm tra thông lượng và độ trễ của trục liên thông văn bản.",
		SignerInfo:       envelope.SignerInfo{Competence: "TM. CHÍNH PHỦ", Position: "Thủ tướng", FullName: "Thủ tướng Chính phủ"},
		OtherInfo:        &envelope.OtherInfo{Priority: "1", PromulgationAmount: fmt.Sprint(len(to)), PageAmount: "1"},
		SteeringType:     "1",
		TraceHeaders:     []envelope.TraceHeader{{OrganID: from, Timestamp: envelope.FormatTimestamp(now)}},
		ManifestVersion:  "1.0",
		References: []envelope.Reference{{ContentID: "cid:1", ContentType: "application/octet-stream",
			Description: "Toàn văn", AttachmentName: number + ".bin"}},
		Attachments: []envelope.Attachment{{ContentID: "cid:1", AttachmentName: number + ".bin",
			ContentType: "application/octet-stream", Content: "AA=="}},
	}
	for _, r := range to {
		p.To = append(p.To, org(r))
	}
	return p
}

// pickRecipients draws k distinct agencies other than from.
func pickRecipients(all []string, from string, k int, rng *rand.Rand) []string {
	others := make([]string, 0, len(all))
	for _, a := range all {
		if a != from {
			others = append(others, a)
		}
	}
	// Partial Fisher–Yates: the first k are a uniform sample.
	for j := 0; j < k; j++ {
		r := j + rng.IntN(len(others)-j)
		others[j], others[r] = others[r], others[j]
	}
	return others[:k:k]
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
