package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rotation without grace (a leaked secret) must not let a token of the rotated-away
// secret open a session: Session verified the parent with the keyring's last look at the
// secrets (up to a second old) but signed the session with the new secret, read afresh.
func TestSessionAfterRotationWithinRefresh(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leaked := mustIssue(t, k, Claims{Agency: "000.00.00.G22", Expires: now.Add(30 * 24 * time.Hour).Unix()})
	if _, err := k.Check(leaked, now); err != nil { // the daemon's last look at the secrets
		t.Fatal(err)
	}
	if _, err := Rotate(dir, 0, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(100 * time.Millisecond)
	sess, _, err := k.Session(leaked, later, 12*time.Hour)
	if err != nil {
		return // refused: sound
	}
	if _, err := k.Check(leaked, later.Add(2*time.Second)); err == nil {
		t.Fatal("the rotated-away token is still accepted")
	}
	if c, err := k.Check(sess, later.Add(2*time.Second)); err == nil {
		t.Fatalf("a token of the secret rotated away without grace opened a session valid after the rotation: %+v", c)
	}
}

// A logout recorded after a line cut short (a crash or a full disk during an earlier
// append) must survive a restart: the next append must not be glued onto the cut line.
func TestEndedSessionAfterCutLine(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	// An earlier logout's append cut short: no newline.
	cut := "3f1c9a0b5e7d2c4a6b8e0f1d3c5a7b9e1f2d4c6a8b0e2f4d6c8a0b2e4f6d8c0a 18000"
	if err := os.WriteFile(filepath.Join(dir, SessionsRevokedFile), []byte(cut), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	parent := mustIssue(t, k, Claims{Agency: "000.00.00.G22", Expires: now.Add(30 * 24 * time.Hour).Unix()})
	sess, _, err := k.Session(parent, now, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.EndSession(sess, now); err != nil {
		t.Fatal(err)
	}
	restarted, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.Check(sess, now); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, SessionsRevokedFile))
		t.Fatalf("the logout was lost at the restart; file:\n%q", b)
	}
}

// The same for `axis token revoke`: a revocation appended after a line cut short stays.
func TestRevokeAfterCutLine(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := os.WriteFile(filepath.Join(dir, RevokedFile), []byte("3f1c9a0b5e7d2c4a 1800"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := mustIssue(t, k, Claims{Agency: "000.00.00.G22", Expires: now.Add(time.Hour).Unix()})
	if _, err := k.Revoke(tok, now); err != nil {
		t.Fatal(err)
	}
	daemon, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.Check(tok, now); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, RevokedFile))
		t.Fatalf("the revocation was lost; file:\n%q", b)
	}
}

// Many live sessions: a logout rewrites the file only once it doubled since the last
// rewrite, not at every logout.
func TestEndedSessionsCompactionIsAmortised(t *testing.T) {
	defer func(n int64) { sessionsCompactAt = n }(sessionsCompactAt)
	sessionsCompactAt = 1 << 10
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	parent := mustIssue(t, k, Claims{Auditor: true, Expires: now.Add(24 * time.Hour).Unix()})
	rewrites := 0
	for range 100 { // all live: nothing to drop
		s, _, err := k.Session(parent, now, 12*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(filepath.Join(dir, SessionsRevokedFile))
		if err := k.EndSession(s, now); err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(filepath.Join(dir, SessionsRevokedFile))
		if before != nil && !os.SameFile(before, after) { // a rewrite renames a new file in
			rewrites++
		}
	}
	if rewrites > 4 { // 1 KiB, then doubling: 2, 4, 8 KiB for 100 lines of 76 bytes
		t.Fatalf("%d rewrites for 100 logouts", rewrites)
	}
	b, _ := os.ReadFile(filepath.Join(dir, SessionsRevokedFile))
	if n := strings.Count(string(b), "\n"); n != 100 {
		t.Fatalf("the file holds %d lines, want 100", n)
	}
}
