package token

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzCheck: Check never panics, and accepts a token only in the exact spelling Issue
// gives its claims (one text per token, which revocation relies on).
func FuzzCheck(f *testing.F) {
	k := New([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []Claims{{Auditor: true, Expires: now.Unix() + 60}, {Agency: "000.00.00.G22", Expires: now.Unix() + 3600}} {
		tok, err := k.Issue(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "B") // the last character's unused bits
	}
	f.Add("axis1.e30.")
	f.Add("axis1..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.Check(tok, now)
		if err != nil {
			return
		}
		want, err := k.Issue(c)
		if err != nil || want != tok {
			t.Fatalf("accepted %q, which Issue spells %q", tok, want)
		}
	})
}

// A signature spelled differently (the last character's unused bits) is refused.
func TestOneSpellingPerToken(t *testing.T) {
	k := New([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	tok, _ := k.Issue(Claims{Auditor: true, Expires: now.Unix() + 60})
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range alphabet {
		if alphabet[i] == last {
			continue
		}
		other := tok[:len(tok)-1] + alphabet[i:i+1]
		if _, err := k.Check(other, now); err == nil {
			t.Fatalf("%q accepted as well as %q", other, tok)
		}
	}
}

// FuzzOldSecrets: the old-secrets file either reads whole, every secret long enough, or
// is refused; never a panic.
func FuzzOldSecrets(f *testing.F) {
	f.Add([]byte("3031323334353637383961626364656630313233343536373839616263646566 1800000000\n"))
	f.Add([]byte("zz 1\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), OldSecretsFile)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		old, err := readOldSecrets(p)
		if err != nil {
			return
		}
		for _, o := range old {
			if len(o.secret) < minSecret {
				t.Fatalf("a secret of %d bytes", len(o.secret))
			}
		}
	})
}
