package token

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"axis/axis/errs"
)

// A rotation without grace refuses every earlier token, in this process at once and in
// the daemon's keyring within a second; with grace, earlier tokens are accepted until
// it ends (never past their own expiry) and can still be revoked; a later rotation keeps
// an earlier grace unless it has none; broken files never lock everyone out of a
// running daemon.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	daemon, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := LoadOrCreate(dir)
	tok := func(k *Keyring, agency string, exp time.Time) string {
		t.Helper()
		return mustIssue(t, k, Claims{Agency: agency, Expires: exp.Unix()})
	}
	accepts := func(k *Keyring, tk string, at time.Time) bool {
		_, err := k.Check(tk, at)
		if err != nil && !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("check: %v", err)
		}
		return err == nil
	}
	leakedKey, _ := os.ReadFile(filepath.Join(dir, SecretFile))
	before := tok(cli, "000.00.00.G22", now.Add(48*time.Hour))
	if !accepts(daemon, before, now) {
		t.Fatal("a fresh token refused")
	}
	csrf := daemon.Derive("x")

	// 1. A leak: no grace.
	r, err := Rotate(dir, 0, now)
	if err != nil || !r.GraceUntil.IsZero() || r.Kept != 0 {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	if k, _ := os.ReadFile(filepath.Join(dir, SecretFile)); len(k) != 32 || bytes.Equal(k, leakedKey) {
		t.Fatalf("new secret %x", k)
	}
	for _, name := range []string{SecretFile} {
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", name, st.Mode())
		}
	}
	if accepts(daemon, before, now.Add(secretRefresh)) {
		t.Fatal("the daemon accepts a token of the replaced secret a second after the rotation")
	}
	restarted, _ := LoadOrCreate(dir)
	if accepts(restarted, before, now) {
		t.Fatal("accepted after a restart")
	}
	after := tok(restarted, "000.00.00.G22", now.Add(48*time.Hour))
	if !accepts(daemon, after, now.Add(secretRefresh)) {
		t.Fatal("a token of the new secret refused")
	}
	if bytes.Equal(daemon.Derive("x"), csrf) {
		t.Fatal("keys derived from the replaced secret")
	}

	// 2. Routine: an hour of grace.
	now = now.Add(time.Minute)
	r, err = Rotate(dir, time.Hour, now)
	if err != nil || !r.GraceUntil.Equal(now.Add(time.Hour)) || r.Kept != 0 {
		t.Fatalf("rotate with grace: %+v %v", r, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, OldSecretsFile)); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v", OldSecretsFile, st)
	}
	newer := tok(cli, "000.00.00.H41", now.Add(48*time.Hour))
	short := tok(restarted, "000.00.00.H41", now.Add(30*time.Minute)) // old secret, expires within the grace
	for _, k := range []*Keyring{daemon, cli} {
		if a, n := accepts(k, after, now.Add(secretRefresh)), accepts(k, newer, now.Add(secretRefresh)); !a || !n {
			t.Fatalf("refused during the grace: %v %v", a, n)
		}
		if accepts(k, short, now.Add(31*time.Minute)) {
			t.Fatal("accepted past its own expiry")
		}
		if accepts(k, after, now.Add(time.Hour)) || !accepts(k, newer, now.Add(time.Hour)) {
			t.Fatal("the grace's end")
		}
	}
	revoked := tok(restarted, "000.00.00.G22", now.Add(2*time.Hour))
	if _, err := cli.Revoke(revoked, now.Add(secretRefresh)); err != nil {
		t.Fatalf("revoking a token in its grace: %v", err)
	}
	if accepts(daemon, revoked, now.Add(2*secretRefresh)) {
		t.Fatal("a revoked token accepted in its grace")
	}

	// 3. A second rotation keeps the first one's grace; one without grace ends it.
	r, err = Rotate(dir, 2*time.Hour, now.Add(10*time.Minute))
	if err != nil || r.Kept != 1 {
		t.Fatalf("second rotation: %+v %v", r, err)
	}
	third := tok(cli, "000.00.00.H41", now.Add(48*time.Hour))
	at := now.Add(10*time.Minute + secretRefresh)
	if !accepts(daemon, after, at) || !accepts(daemon, newer, at) || !accepts(daemon, third, at) {
		t.Fatal("the second rotation cut a grace short")
	}
	if accepts(daemon, after, now.Add(time.Hour)) || !accepts(daemon, newer, now.Add(time.Hour)) {
		t.Fatal("graces not kept apart")
	}
	if _, err := Rotate(dir, 0, now.Add(time.Hour+time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, OldSecretsFile)); !os.IsNotExist(err) {
		t.Fatalf("old secrets kept after a rotation without grace: %v", err)
	}
	at = now.Add(time.Hour + 2*secretRefresh)
	if accepts(daemon, newer, at) || accepts(daemon, third, at) {
		t.Fatal("a rotation without grace left earlier tokens valid")
	}

	// 4. Broken files, as a hand edit might leave them: the daemon keeps what it has.
	current := tok(cli, "000.00.00.G22", now.Add(48*time.Hour))
	os.WriteFile(filepath.Join(dir, SecretFile), []byte("short"), 0o600)
	if !accepts(daemon, current, at.Add(secretRefresh)) {
		t.Fatal("a short secret file locked the daemon out")
	}
	if _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("a short secret accepted at start")
	}
	if _, err := Rotate(dir, 0, at); err == nil {
		t.Fatal("rotated a short secret")
	}
	os.WriteFile(filepath.Join(dir, OldSecretsFile), []byte("zz 1\n"), 0o600)
	if _, err := readOldSecrets(filepath.Join(dir, OldSecretsFile)); err == nil {
		t.Fatal("junk in the old secrets read")
	}
	if _, err := Rotate(dir, -time.Second, at); err == nil {
		t.Fatal("negative grace")
	}
}
