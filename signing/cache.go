package signing

import (
	"crypto/x509"
	"sync"
	"time"
)

// chainEntry is a validated signer chain. Revocation was checked when it was built; the
// trust store (and so its CRLs) never changes under a Verifier, so the entry stays true
// for as long as every certificate of the chain is within its validity period.
type chainEntry struct {
	chain               []*x509.Certificate
	fingerprint         string
	kind                keyKind
	notBefore, notAfter time.Time // intersection of the chain's validity periods
	legacy              bool      // a certificate of the chain is signed with SHA-1 (legacy.go)
}

// chainCache maps the KeyInfo certificates (hash of the leaf DER and any intermediates
// sent with it, in order) to a validated chain, so a burst of packages from one agency
// parses and builds the chain once. Only successes are cached.
type chainCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*chainEntry
	max int
}

func newChainCache(max int) *chainCache {
	if max <= 0 {
		max = 4096
	}
	return &chainCache{m: make(map[[32]byte]*chainEntry), max: max}
}

func (c *chainCache) get(k [32]byte, now time.Time) *chainEntry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil || now.Before(e.notBefore) || now.After(e.notAfter) {
		return nil // outside the validity period: rebuild, which reports the right code
	}
	return e
}

func (c *chainCache) put(k [32]byte, e *chainEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		// Evict an arbitrary entry (map order is random): a cache miss only costs a
		// chain build, and this keeps the bound without bookkeeping on the hot path.
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = e
}

func (c *chainCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
