// Package token issues and checks the bearer tokens of the read API and the portal.
// A token names one agency (it sees only documents it sent or received) or an auditor
// (sees everything), and expires. Tokens are HMAC-SHA256 signed with a secret kept in
// the data directory, so `axis token issue` works offline beside a stopped or running
// daemon. `axis token revoke` revokes one token (revoked.go); `axis token rotate`
// replaces the secret (rotate.go), which revokes every token issued before, at once or
// after a grace period. A running daemon sees both within a second.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"axis/axis/errs"
	"axis/axis/internal/durable"
)

// SecretFile is the secret's name inside the data directory.
const SecretFile = "token.key"

const prefix = "axis1."

// minSecret is the shortest secret accepted, in bytes (a new one has 32).
const minSecret = 32

var strictB64 = base64.RawURLEncoding.Strict()

func notTokenChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}

// Claims is what a token grants.
type Claims struct {
	Agency  string `json:"agency,omitempty"` // set for an agency token
	Auditor bool   `json:"auditor,omitempty"`
	Expires int64  `json:"exp"` // Unix seconds
	// Parent is set in a portal session's token: the sha256 (hex) of the token the session
	// was opened with, whose revocation ends it too (session.go).
	Parent string `json:"par,omitempty"`
	// Nonce makes each session's token its own (two sign-ins in the same second would
	// otherwise get the same token, and one logout would end both).
	Nonce string `json:"n,omitempty"`
}

// Subject is a readable name for logs.
func (c Claims) Subject() string {
	if c.Auditor {
		return "auditor"
	}
	return "agency:" + c.Agency
}

// CanSee reports whether the holder may see a document with this sender and recipients.
func (c Claims) CanSee(from string, to []string) bool {
	if c.Auditor {
		return true
	}
	if c.Agency == "" {
		return false
	}
	if from == c.Agency {
		return true
	}
	for _, r := range to {
		if r == c.Agency {
			return true
		}
	}
	return false
}

// Keyring signs and checks tokens.
type Keyring struct {
	keys atomic.Pointer[keyset]
	dir  *secretFiles // the data directory's secrets as last read (rotate.go); nil for New
	rev  *revocations // the data directory's revoked tokens (revoked.go); nil for New
	// ended: the sessions ended by a logout (session.go).
	ended *endedSessions
}

// keyset is the secret tokens are issued with, and those replaced by a rotation whose
// tokens are still accepted for a while.
type keyset struct {
	current []byte
	old     []oldSecret
}

// LoadOrCreate reads DIR/token.key, creating it (0600, 32 random bytes) if missing.
func LoadOrCreate(dataDir string) (*Keyring, error) {
	k, err := Load(dataDir)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// O_EXCL: two processes creating it at once must not end with different secrets.
	f, err := os.OpenFile(filepath.Join(dataDir, SecretFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return Load(dataDir)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// The name too: after a power cut, a secret the tokens were issued with must not be
	// gone (a new one would refuse them all).
	if err := durable.SyncDir(dataDir); err != nil {
		return nil, err
	}
	return openKeyring(dataDir)
}

// Load reads DIR/token.key, which must exist (revoking or checking against a secret
// made up on the spot would only mislead).
func Load(dataDir string) (*Keyring, error) {
	if _, err := os.Stat(filepath.Join(dataDir, SecretFile)); err != nil {
		return nil, err
	}
	return openKeyring(dataDir)
}

// openKeyring reads the data directory's secrets (current and still-accepted old ones).
func openKeyring(dataDir string) (*Keyring, error) {
	k := &Keyring{dir: &secretFiles{dir: dataDir}, rev: &revocations{path: filepath.Join(dataDir, RevokedFile)}}
	ks, err := k.dir.load()
	if err != nil {
		return nil, err
	}
	if k.ended, err = newEndedSessions(filepath.Join(dataDir, SessionsRevokedFile)); err != nil {
		return nil, err
	}
	k.keys.Store(ks)
	return k, nil
}

// New is a keyring over a given secret (tests).
func New(secret []byte) *Keyring {
	k := &Keyring{}
	k.ended, _ = newEndedSessions("") // memory only: cannot fail
	k.keys.Store(&keyset{current: secret})
	return k
}

// secret is the one tokens are issued with: the files are looked at first, whenever
// the last look was, so that nothing is issued with a secret rotated away.
func (k *Keyring) secret() []byte { return k.keyset(time.Now(), true).current }

// keyset returns the secrets, reading the files again if they changed since the last
// look; that look is at most once per secretRefresh unless forced.
func (k *Keyring) keyset(now time.Time, force bool) *keyset {
	if k.dir != nil {
		if ks := k.dir.refresh(now, force); ks != nil {
			k.keys.Store(ks)
		}
	}
	return k.keys.Load()
}

// Issue returns a token for c.
func (k *Keyring) Issue(c Claims) (string, error) { return issueWith(k.secret(), c) }

// issueWith returns a token for c signed with secret.
func issueWith(secret []byte, c Claims) (string, error) {
	if c.Auditor == (c.Agency != "") {
		return "", errors.New("a token is for exactly one agency, or for an auditor")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	body := prefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(secret, body)), nil
}

// Derive returns a key for another use of the same secret (e.g. the portal's CSRF
// tokens), so that it too survives restarts; distinct labels give unrelated keys.
func (k *Keyring) Derive(label string) []byte {
	return mac(k.secret(), "derive\x00"+label)
}

func mac(secret []byte, body string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Check verifies a token at time now: signed by this keyring, not expired, not revoked.
func (k *Keyring) Check(tok string, now time.Time) (Claims, error) {
	c, err := k.verify(tok, now)
	if err != nil || now.Unix() >= c.Expires || k.rev != nil && k.rev.revoked(tok, now) || c.Parent != "" && k.sessionEnded(tok, c, now) {
		return Claims{}, errs.E(errs.Unauthorized, "invalid, expired or revoked token")
	}
	return c, nil
}

// sessionEnded reports whether a session token was logged out, or its parent revoked.
func (k *Keyring) sessionEnded(tok string, c Claims, now time.Time) bool {
	parent, _ := parentSum(c.Parent) // verify checked it
	return k.ended.has(sha256.Sum256([]byte(tok))) || k.rev != nil && k.rev.revokedSum(parent, now)
}

// verify checks a token's signature (by the current secret, or an old one still in its
// grace at now) and its claims, not its expiry.
func (k *Keyring) verify(tok string, now time.Time) (Claims, error) {
	c, _, err := k.verifyUntil(tok, now)
	return c, err
}

// verifyUntil is verify, and says until when the secret that signed tok is accepted
// (math.MaxInt64 for the current one; a rotation's grace end for an old one).
func (k *Keyring) verifyUntil(tok string, now time.Time) (Claims, int64, error) {
	return verifyWith(k.keyset(now, false), tok, now)
}

// verifyWith is verifyUntil against the secrets ks.
func verifyWith(ks *keyset, tok string, now time.Time) (Claims, int64, error) {
	bad := errs.E(errs.Unauthorized, "invalid token")
	// Only the characters Issue writes: the base64 decoder skips line breaks, which
	// would give one token several spellings (see strictB64).
	if !strings.HasPrefix(tok, prefix) || strings.IndexFunc(tok, notTokenChar) >= 0 {
		return Claims{}, 0, bad
	}
	i := strings.LastIndexByte(tok, '.')
	if i <= len(prefix) {
		return Claims{}, 0, bad
	}
	body, sig := tok[:i], tok[i+1:]
	// Strict: a lenient decoder ignores the last character's unused bits, so one MAC
	// would have several spellings, and a revoked token (listed by its text) would come
	// back as another.
	got, err := strictB64.DecodeString(sig)
	if err != nil {
		return Claims{}, 0, bad
	}
	until, ok := ks.signed(body, got, now)
	if !ok {
		return Claims{}, 0, bad
	}
	payload, err := strictB64.DecodeString(body[len(prefix):])
	if err != nil {
		return Claims{}, 0, bad
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Auditor == (c.Agency != "") {
		return Claims{}, 0, bad
	}
	if _, ok := parentSum(c.Parent); c.Parent != "" && !ok {
		return Claims{}, 0, bad
	}
	return c, until, nil
}

// signed reports whether sig is body's MAC by the current secret, or by an old one
// whose grace has not ended at now.
func (ks *keyset) signed(body string, sig []byte, now time.Time) (until int64, ok bool) {
	if hmac.Equal(sig, mac(ks.current, body)) {
		return math.MaxInt64, true
	}
	for _, o := range ks.old {
		if now.Unix() < o.until && hmac.Equal(sig, mac(o.secret, body)) {
			return o.until, true
		}
	}
	return 0, false
}
