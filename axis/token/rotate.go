package token

import (
	"bufio"
	"bytes"
	"crypto/rand"
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

// OldSecretsFile keeps the secrets a rotation with a grace period replaced, one per line:
// "<secret, hex> <end of its grace, Unix seconds>". Their tokens are accepted until then.
const OldSecretsFile = "token.key.old"

// secretRefresh is how often a keyring looks whether the secret files changed.
const secretRefresh = time.Second

type oldSecret struct {
	secret []byte
	until  int64 // Unix seconds: tokens of this secret are refused from then on
}

// secretFiles is a data directory's token.key and token.key.old, as last read.
type secretFiles struct {
	dir string

	mu       sync.Mutex
	checked  time.Time
	cur, old os.FileInfo // nil: missing when last looked at
}

// refresh returns the secrets read again if either file changed since the last look,
// nil if nothing changed or the look was not due (force: due now). A file that cannot be read, or a
// secret too short, keeps the secrets in use: a half-done edit by hand must not lock
// every client out (Rotate replaces files whole).
func (f *secretFiles) refresh(now time.Time, force bool) *keyset {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !force && now.Sub(f.checked) < secretRefresh && !now.Before(f.checked) {
		return nil
	}
	f.checked = now
	cur, _ := os.Stat(filepath.Join(f.dir, SecretFile))
	old, _ := os.Stat(filepath.Join(f.dir, OldSecretsFile))
	if cur == nil || sameFile(cur, f.cur) && sameFile(old, f.old) {
		return nil
	}
	ks, err := f.read(cur, old)
	if err != nil {
		return nil
	}
	return ks
}

// load reads the secrets now (a keyring's start).
func (f *secretFiles) load() (*keyset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := os.Stat(filepath.Join(f.dir, SecretFile))
	if err != nil {
		return nil, err
	}
	old, _ := os.Stat(filepath.Join(f.dir, OldSecretsFile))
	return f.read(cur, old)
}

// read reads both files and remembers what they were (f.mu held).
func (f *secretFiles) read(cur, old os.FileInfo) (*keyset, error) {
	p := filepath.Join(f.dir, SecretFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if len(b) < minSecret {
		return nil, fmt.Errorf("%s: secret too short", p)
	}
	ks := &keyset{current: b}
	if old != nil {
		if ks.old, err = readOldSecrets(filepath.Join(f.dir, OldSecretsFile)); err != nil {
			return nil, err
		}
	}
	f.cur, f.old = cur, old
	return ks, nil
}

// sameFile: the same file, unchanged (a rotation renames a new file into place).
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func readOldSecrets(path string) ([]oldSecret, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []oldSecret
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		hexSecret, until, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		secret := make([]byte, hex.DecodedLen(len(hexSecret)))
		_, herr := hex.Decode(secret, hexSecret)
		u, uerr := strconv.ParseInt(string(until), 10, 64)
		if !ok || herr != nil || uerr != nil || len(secret) < minSecret {
			return nil, fmt.Errorf("%s:%d: not \"<secret, hex> <Unix seconds>\"", path, n)
		}
		out = append(out, oldSecret{secret: secret, until: u})
	}
	return out, nil
}

// Rotation is what Rotate did.
type Rotation struct {
	GraceUntil time.Time // zero: tokens issued before the rotation are refused at once
	Kept       int       // secrets of earlier rotations still in their grace
}

// Rotate replaces the data directory's secret with a new random one. With grace > 0,
// tokens of the replaced secret stay valid until now+grace (never past their own
// expiry), and those of earlier rotations until their own grace ends; with grace 0 only
// tokens issued from now on are accepted: the answer to a leaked secret. A running
// daemon reads the new secret within a second. Revoked tokens stay revoked.
//
// The old secrets are written before the new one, so that a crash in between leaves
// the grace promised (the current secret listed as old is harmless). Both files are
// replaced whole (write, fsync, rename, fsync the directory).
func Rotate(dataDir string, grace time.Duration, now time.Time) (Rotation, error) {
	if grace < 0 {
		return Rotation{}, errors.New("the grace period cannot be negative")
	}
	cur, err := os.ReadFile(filepath.Join(dataDir, SecretFile))
	if err != nil {
		return Rotation{}, err
	}
	if len(cur) < minSecret {
		return Rotation{}, fmt.Errorf("%s: secret too short", filepath.Join(dataDir, SecretFile))
	}
	var r Rotation
	var lines bytes.Buffer
	if grace > 0 {
		old, err := readOldSecrets(filepath.Join(dataDir, OldSecretsFile))
		if err != nil {
			return Rotation{}, err
		}
		for _, o := range old {
			if now.Unix() < o.until && !bytes.Equal(o.secret, cur) {
				fmt.Fprintf(&lines, "%x %d\n", o.secret, o.until)
				r.Kept++
			}
		}
		r.GraceUntil = now.Add(grace).Truncate(time.Second)
		fmt.Fprintf(&lines, "%x %d\n", cur, r.GraceUntil.Unix())
	}
	if lines.Len() > 0 {
		err = durable.WriteFile(filepath.Join(dataDir, OldSecretsFile), lines.Bytes(), 0o600)
	} else if err = os.Remove(filepath.Join(dataDir, OldSecretsFile)); errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return Rotation{}, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Rotation{}, err
	}
	if err := durable.WriteFile(filepath.Join(dataDir, SecretFile), secret, 0o600); err != nil {
		return Rotation{}, err
	}
	return r, durable.SyncDir(dataDir)
}
