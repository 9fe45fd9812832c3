// Package token issues and checks the bearer tokens of the read API and the portal.
// A token names one agency (it sees only documents it sent or received) or an auditor
// (sees everything), and expires. Tokens are HMAC-SHA256 signed with a secret kept in
// the data directory, so `axis token issue` works offline beside a stopped or running
// daemon. `axis token revoke` revokes one token (revoked.go); rotating the secret file
// (with a restart) revokes every token.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"axis/axis/errs"
)

// SecretFile is the secret's name inside the data directory.
const SecretFile = "token.key"

const prefix = "axis1."

var strictB64 = base64.RawURLEncoding.Strict()

func notTokenChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}

// Claims is what a token grants.
type Claims struct {
	Agency  string `json:"agency,omitempty"` // set for an agency token
	Auditor bool   `json:"auditor,omitempty"`
	Expires int64  `json:"exp"` // Unix seconds
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
	secret []byte
	rev    *revocations // the data directory's revoked tokens (revoked.go); nil for New
}

// LoadOrCreate reads DIR/token.key, creating it (0600, 32 random bytes) if missing.
func LoadOrCreate(dataDir string) (*Keyring, error) {
	p := filepath.Join(dataDir, SecretFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		// O_EXCL: two processes creating it at once must not end with different secrets.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreate(dataDir)
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
		return &Keyring{secret: b, rev: &revocations{path: filepath.Join(dataDir, RevokedFile)}}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("%s: secret too short", p)
	}
	return &Keyring{secret: b, rev: &revocations{path: filepath.Join(dataDir, RevokedFile)}}, nil
}

// New is a keyring over a given secret (tests).
func New(secret []byte) *Keyring { return &Keyring{secret: secret} }

// Issue returns a token for c.
func (k *Keyring) Issue(c Claims) (string, error) {
	if c.Auditor == (c.Agency != "") {
		return "", errors.New("a token is for exactly one agency, or for an auditor")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	body := prefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(k.mac(body)), nil
}

// Derive returns a key for another use of the same secret (e.g. the portal's CSRF
// tokens), so that it too survives restarts; distinct labels give unrelated keys.
func (k *Keyring) Derive(label string) []byte { return k.mac("derive\x00" + label) }

func (k *Keyring) mac(body string) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Check verifies a token at time now: signed by this keyring, not expired, not revoked.
func (k *Keyring) Check(tok string, now time.Time) (Claims, error) {
	c, err := k.verify(tok)
	if err != nil || now.Unix() >= c.Expires || k.rev != nil && k.rev.revoked(tok, now) {
		return Claims{}, errs.E(errs.Unauthorized, "invalid, expired or revoked token")
	}
	return c, nil
}

// verify checks a token's signature and claims, not its time.
func (k *Keyring) verify(tok string) (Claims, error) {
	bad := errs.E(errs.Unauthorized, "invalid token")
	// Only the characters Issue writes: the base64 decoder skips line breaks, which
	// would give one token several spellings (see strictB64).
	if !strings.HasPrefix(tok, prefix) || strings.IndexFunc(tok, notTokenChar) >= 0 {
		return Claims{}, bad
	}
	i := strings.LastIndexByte(tok, '.')
	if i <= len(prefix) {
		return Claims{}, bad
	}
	body, sig := tok[:i], tok[i+1:]
	// Strict: a lenient decoder ignores the last character's unused bits, so one MAC
	// would have several spellings, and a revoked token (listed by its text) would come
	// back as another.
	got, err := strictB64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.mac(body)) {
		return Claims{}, bad
	}
	payload, err := strictB64.DecodeString(body[len(prefix):])
	if err != nil {
		return Claims{}, bad
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Auditor == (c.Agency != "") {
		return Claims{}, bad
	}
	return c, nil
}
