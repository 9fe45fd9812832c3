package token

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"axis/axis/errs"
	"axis/axis/internal/durable"
)

// Sessions: the portal does not keep the token a clerk signs in with in its cookie. It
// keeps a session token: the same grant, expiring at the earlier of the token's expiry
// and the session's, and naming its parent (the sha256 of the token it was opened
// with). Logging out revokes the session token only (the clerk's token may be in use
// elsewhere, by the agency's system); revoking or rotating away the parent ends every
// session opened with it.

// SessionsRevokedFile lists the session tokens ended by a logout, as RevokedFile does.
// Only the daemon (which holds the data directory) writes it, so it can drop expired
// lines without racing another writer; `axis token revoke` writes RevokedFile.
const SessionsRevokedFile = "token.sessions-revoked"

// sessionsCompactAt is the size from which a logout rewrites the file without its
// expired lines (sessions end within hours, so it stays small).
var sessionsCompactAt int64 = 64 << 10 // tests lower it

// Session returns a session token for tok: its grant, expiring at the earliest of tok's
// expiry, now+ttl and the end of the grace of the secret tok was signed with (a rotation
// must end the sessions of the tokens it ends). A session token does not open another
// session.
func (k *Keyring) Session(tok string, now time.Time, ttl time.Duration) (string, Claims, error) {
	// One fresh look at the secrets, to verify tok and sign the session with: a session
	// signed with a newer secret than the one its parent was checked against would
	// outlive a rotation that ended the parent.
	ks := k.keyset(now, true)
	c, err := k.Check(tok, now)
	if err != nil {
		return "", Claims{}, err
	}
	_, until, err := verifyWith(ks, tok, now)
	if err != nil {
		return "", Claims{}, err
	}
	if c.Parent != "" {
		return "", Claims{}, errs.E(errs.Unauthorized, "a session token does not open another session: sign in with the token issued by axis token issue")
	}
	sum := sha256.Sum256([]byte(tok))
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return "", Claims{}, err
	}
	s := Claims{Nonce: base64.RawURLEncoding.EncodeToString(nonce), Agency: c.Agency, Auditor: c.Auditor, Expires: min(c.Expires, now.Add(ttl).Unix(), until), Parent: hex.EncodeToString(sum[:])}
	st, err := issueWith(ks.current, s)
	return st, s, err
}

// EndSession revokes a session token (logout), durably. A token that is not a session
// token of this keyring is refused: logging out must never revoke the token a clerk
// signed in with.
func (k *Keyring) EndSession(tok string, now time.Time) error {
	c, err := k.verify(tok, now)
	if err != nil {
		return err
	}
	if c.Parent == "" {
		return errors.New("not a session token")
	}
	if now.Unix() >= c.Expires {
		return nil // over already
	}
	return k.ended.add(sha256.Sum256([]byte(tok)), c.Expires, now)
}

// endedSessions is the set of session tokens ended by a logout: in memory, and in
// SessionsRevokedFile when the keyring has a data directory.
type endedSessions struct {
	path string // "" for New: memory only

	mu   sync.Mutex
	set  map[[sha256.Size]byte]int64 // sha256 → expiry
	size int64                       // of the file
	cut  bool                        // the file may end in a line cut short: the next append starts a new one
	// compactAt: the size from which the next logout rewrites the file; twice what the
	// last rewrite kept, so that many live sessions do not make every logout a rewrite.
	compactAt int64
}

func newEndedSessions(path string) (*endedSessions, error) {
	e := &endedSessions{path: path, set: map[[sha256.Size]byte]int64{}}
	if path == "" {
		return e, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	e.size = int64(len(b))
	e.cut = len(b) > 0 && b[len(b)-1] != '\n'
	e.set = parseRevoked(b, time.Now())
	return e, nil
}

func (e *endedSessions) has(sum [sha256.Size]byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.set[sum]
	return ok
}

// add records sum durably before it takes effect in memory: a logout answered is a
// session that stays ended after a restart.
func (e *endedSessions) add(sum [sha256.Size]byte, exp int64, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.set[sum]; ok {
		return nil
	}
	if e.path != "" {
		line := fmt.Appendf(nil, "%x %d\n", sum, exp)
		var err error
		if e.size+int64(len(line)) > max(sessionsCompactAt, e.compactAt) {
			err = e.rewrite(line, now)
		} else {
			err = e.appendLine(line)
		}
		if err != nil {
			return fmt.Errorf("record the logout: %w", err)
		}
	}
	e.set[sum] = exp
	return nil
}

func (e *endedSessions) appendLine(line []byte) error {
	if e.cut {
		line = append([]byte{'\n'}, line...)
	}
	e.cut = true // until this line is whole
	_, statErr := os.Stat(e.path)
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	e.size += int64(len(line))
	e.cut = false
	if errors.Is(statErr, os.ErrNotExist) { // created now: its name must survive a power cut
		return durable.SyncDir(filepath.Dir(e.path))
	}
	return nil
}

// rewrite replaces the file by its unexpired lines and line, atomically.
func (e *endedSessions) rewrite(line []byte, now time.Time) error {
	var b bytes.Buffer
	for sum, exp := range e.set {
		if now.Unix() < exp {
			fmt.Fprintf(&b, "%x %d\n", sum, exp)
		}
	}
	b.Write(line)
	if err := durable.WriteFile(e.path, b.Bytes(), 0o600); err != nil {
		return err
	}
	e.size, e.cut, e.compactAt = int64(b.Len()), false, 2*int64(b.Len())
	for sum, exp := range e.set {
		if now.Unix() >= exp {
			delete(e.set, sum)
		}
	}
	return nil
}

// parentSum decodes a session's Parent; ok is false for a malformed one.
func parentSum(p string) (sum [sha256.Size]byte, ok bool) {
	if hex.DecodedLen(len(p)) != len(sum) {
		return sum, false
	}
	_, err := hex.Decode(sum[:], []byte(p))
	return sum, err == nil
}
