package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/axis/errs"
)

// TestSession: a session token carries its parent's grant for at most its TTL; a
// logout ends it for good (after a restart too) and nothing else; revoking the parent
// ends every session opened with it; a rotation's grace bounds a session like its
// parent; a session token neither opens a session nor can be forged with a bad parent.
func TestSession(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	daemon, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	parent := mustIssue(t, daemon, Claims{Agency: "000.00.00.G22", Expires: now.Add(30 * 24 * time.Hour).Unix()})
	s1, c1, err := daemon.Session(parent, now, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Agency != "000.00.00.G22" || c1.Auditor || c1.Expires != now.Add(12*time.Hour).Unix() || c1.Parent == "" {
		t.Fatalf("session claims %+v", c1)
	}
	if got, err := daemon.Check(s1, now); err != nil || got != c1 {
		t.Fatalf("Check(session) = %+v, %v", got, err)
	}
	if _, c, _ := daemon.Session(mustIssue(t, daemon, Claims{Auditor: true, Expires: now.Add(time.Hour).Unix()}), now, 12*time.Hour); c.Expires != now.Add(time.Hour).Unix() {
		t.Errorf("a session outlives its parent: expires %d", c.Expires)
	}
	s2, _, err := daemon.Session(parent, now, 12*time.Hour)
	if err != nil || s2 == s1 {
		t.Fatalf("a second session of the same token: %v (same token: %v)", err, s2 == s1)
	}
	if _, _, err := daemon.Session(s1, now, 12*time.Hour); errs.CodeOf(err) != errs.Unauthorized {
		t.Errorf("a session from a session: %v, want unauthorized", err)
	}

	// Logout: s1 ends, durably; s2 and the parent go on.
	if err := daemon.EndSession(parent, now); err == nil {
		t.Error("EndSession accepted the token signed in with")
	}
	if err := daemon.EndSession(s1, now); err != nil {
		t.Fatal(err)
	}
	if err := daemon.EndSession(s1, now); err != nil {
		t.Fatalf("a second logout of the same session: %v", err)
	}
	restarted, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*Keyring{"daemon": daemon, "after a restart": restarted} {
		if _, err := k.Check(s1, now); err == nil {
			t.Errorf("%s: the logged-out session is accepted", name)
		}
		if _, err := k.Check(s2, now); err != nil {
			t.Errorf("%s: another session of the same token: %v", name, err)
		}
		if _, err := k.Check(parent, now); err != nil {
			t.Errorf("%s: the token signed in with: %v", name, err)
		}
	}

	// Revoking the parent (axis token revoke, another process) ends its sessions.
	cli, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(parent, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * revokedRefresh)
	if _, err := daemon.Check(s2, later); err == nil {
		t.Error("a session of a revoked token is accepted")
	}

	// A bad parent is a bad token, whoever signed it.
	forged := mustIssue(t, daemon, Claims{Agency: "000.00.00.G22", Expires: later.Add(time.Hour).Unix(), Parent: "not hex"})
	if _, err := daemon.Check(forged, later); err == nil {
		t.Error("a token with a malformed parent is accepted")
	}
}

// TestSessionBoundByRotation: a session opened with a token of a rotated-away secret,
// during the rotation's grace, ends with that grace (it is signed with the new secret,
// which would otherwise keep it alive past its parent).
func TestSessionBoundByRotation(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	parent := mustIssue(t, k, Claims{Agency: "000.00.00.G22", Expires: now.Add(30 * 24 * time.Hour).Unix()})
	r, err := Rotate(dir, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	k, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, c, err := k.Session(parent, now, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expires != r.GraceUntil.Unix() {
		t.Fatalf("session expires %v, want the grace's end %v", time.Unix(c.Expires, 0), r.GraceUntil)
	}
	if _, err := k.Check(s, r.GraceUntil); err == nil {
		t.Error("the session outlives its parent's secret")
	}
}

// TestEndedSessionsCompact: the logout file drops expired lines once it is large, and
// keeps every live one.
func TestEndedSessionsCompact(t *testing.T) {
	defer func(n int64) { sessionsCompactAt = n }(sessionsCompactAt)
	sessionsCompactAt = 1 << 10
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	parent := mustIssue(t, k, Claims{Auditor: true, Expires: now.Add(100 * 24 * time.Hour).Unix()})
	var live []string
	for i := range 40 {
		at := now.Add(time.Duration(i) * time.Hour)
		s, _, err := k.Session(parent, at, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.EndSession(s, at); err != nil {
			t.Fatal(err)
		}
		live = append(live, s)
	}
	last := now.Add(39 * time.Hour)
	b, err := os.ReadFile(filepath.Join(dir, SessionsRevokedFile))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) > sessionsCompactAt || strings.Count(string(b), "\n") < 2 {
		t.Fatalf("the file holds %d bytes, %d lines: not compacted", len(b), strings.Count(string(b), "\n"))
	}
	k2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range live[38:] { // the two still unexpired at the end
		if _, err := k2.Check(s, last); err == nil {
			t.Error("a logged-out session came back after the compaction")
		}
	}
}
