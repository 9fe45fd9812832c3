package token

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"axis/axis/internal/durable"
)

// RevokedFile lists the revoked tokens in the data directory, one per line:
// "<sha256 of the token, hex> <its expiry, Unix seconds>". `axis token revoke` appends
// to it; a running daemon reads it again within a second of a change.
const RevokedFile = "token.revoked"

// revokedRefresh is how often Check looks whether the file changed.
const revokedRefresh = time.Second

// revocations is the revoked-token list of a data directory, as last read.
type revocations struct {
	path string

	mu      sync.Mutex
	checked time.Time // when the file was last looked at
	modTime time.Time
	size    int64
	set     map[[sha256.Size]byte]int64 // sha256 → expiry
}

// revoked reports whether tok is revoked, reading the file again if it changed since
// the last look, at most once per revokedRefresh. An unreadable file keeps the last list
// read (and is reported by Revoke, which writes it).
func (r *revocations) revoked(tok string, now time.Time) bool {
	return r.revokedSum(sha256.Sum256([]byte(tok)), now)
}

// revokedSum is revoked for the token whose sha256 is sum.
func (r *revocations) revokedSum(sum [sha256.Size]byte, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil || now.Sub(r.checked) >= revokedRefresh || now.Before(r.checked) {
		r.checked = now
		if st, err := os.Stat(r.path); err == nil && (!st.ModTime().Equal(r.modTime) || st.Size() != r.size) {
			if set, err := readRevoked(r.path, now); err == nil {
				r.set, r.modTime, r.size = set, st.ModTime(), st.Size()
			}
		} else if errors.Is(err, os.ErrNotExist) {
			r.set = map[[sha256.Size]byte]int64{}
		}
	}
	_, ok := r.set[sum]
	return ok
}

// readRevoked reads the file, skipping expired entries and lines not (yet) whole.
func readRevoked(path string, now time.Time) (map[[sha256.Size]byte]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseRevoked(b, now), nil
}

// parseRevoked reads "<sha256 hex> <expiry, Unix seconds>" lines (token.revoked and
// token.sessions-revoked) into sha256 → expiry, skipping expired ones and any line not
// whole (being written, or cut short by a crash).
func parseRevoked(b []byte, now time.Time) map[[sha256.Size]byte]int64 {
	set := map[[sha256.Size]byte]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		hexSum, exp, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		var sum [sha256.Size]byte
		if !ok || hex.DecodedLen(len(hexSum)) != len(sum) {
			continue
		}
		if _, err := hex.Decode(sum[:], hexSum); err != nil {
			continue
		}
		e, err := strconv.ParseInt(string(exp), 10, 64)
		if err != nil || now.Unix() >= e {
			continue // expired tokens are refused anyway
		}
		set[sum] = e
	}
	return set
}

// Revoke adds tok to the data directory's revoked tokens (durably) and returns what it
// granted. Only a token of this keyring is accepted; an expired one needs no revocation.
func (k *Keyring) Revoke(tok string, now time.Time) (Claims, error) {
	if k.rev == nil {
		return Claims{}, errors.New("this keyring has no data directory")
	}
	c, err := k.verify(tok, now)
	if err != nil {
		return Claims{}, err
	}
	if now.Unix() >= c.Expires {
		return c, fmt.Errorf("the token expired at %s: nothing to revoke", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	if k.rev.revoked(tok, now.Add(revokedRefresh)) { // a fresh look: already there
		return c, nil
	}
	f, err := os.OpenFile(k.rev.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return c, err
	}
	sum := sha256.Sum256([]byte(tok))
	line := fmt.Appendf(nil, "%x %d\n", sum, c.Expires)
	// After a line cut short (a crash or a full disk during an earlier append), start a
	// new one: glued onto it, this revocation would not parse, and be undone.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return c, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return c, err
	}
	if err := f.Close(); err != nil {
		return c, err
	}
	// The file may have been created now: its name must survive a power cut too, or
	// the revocation would be undone.
	return c, durable.SyncDir(filepath.Dir(k.rev.path))
}
