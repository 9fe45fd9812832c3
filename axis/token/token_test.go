package token

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/axis/errs"
)

func TestIssueCheck(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir + "/" + SecretFile)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", st.Mode())
	}
	k2, _ := LoadOrCreate(dir) // same secret on reload
	now := time.Unix(1_800_000_000, 0)
	tok, err := k.Issue(Claims{Agency: "000.00.00.G22", Expires: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := k2.Check(tok, now)
	if err != nil || c.Agency != "000.00.00.G22" || c.Auditor {
		t.Fatalf("%+v %v", c, err)
	}
	if !c.CanSee("000.00.00.G22", nil) || !c.CanSee("x", []string{"y", "000.00.00.G22"}) || c.CanSee("x", []string{"y"}) {
		t.Fatal("CanSee wrong")
	}
	for name, bad := range map[string]string{
		"expired":   "",
		"tampered":  strings.Replace(tok, tok[10:11], string(rune(tok[10]^1)), 1),
		"truncated": tok[:len(tok)-2],
		"empty":     "x",
		"other key": mustIssue(t, New([]byte(strings.Repeat("k", 32))), Claims{Auditor: true, Expires: now.Add(time.Hour).Unix()}),
	} {
		at := now
		if name == "expired" {
			bad, at = tok, now.Add(2*time.Hour)
		}
		if _, err := k.Check(bad, at); errs.CodeOf(err) != errs.Unauthorized {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := k.Issue(Claims{Agency: "a", Auditor: true}); err == nil {
		t.Fatal("agency+auditor token issued")
	}
}

func mustIssue(t *testing.T, k *Keyring, c Claims) string {
	s, err := k.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A revoked token is refused, by the keyring that revoked it at once and by another
// process's keyring (the daemon's) once it looks at the file again (within a second);
// other tokens are not; a revocation outlives a restart; junk and expired tokens are
// not revoked; a line being written is skipped until whole.
func TestRevoke(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	daemon, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaked, _ := cli.Issue(Claims{Auditor: true, Expires: now.Add(time.Hour).Unix()})
	other, _ := cli.Issue(Claims{Agency: "000.00.00.G22", Expires: now.Add(time.Hour).Unix()})
	if _, err := daemon.Check(leaked, now); err != nil {
		t.Fatal(err)
	}
	if c, err := cli.Revoke(leaked, now); err != nil || !c.Auditor {
		t.Fatalf("revoke: %+v %v", c, err)
	}
	if _, err := cli.Check(leaked, now); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("the revoking keyring accepts it: %v", err)
	}
	if _, err := daemon.Check(leaked, now.Add(revokedRefresh)); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("the daemon's keyring accepts it a second later: %v", err)
	}
	if _, err := daemon.Check(other, now.Add(revokedRefresh)); err != nil {
		t.Fatalf("another token: %v", err)
	}
	restarted, _ := LoadOrCreate(dir)
	if _, err := restarted.Check(leaked, now); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("after a restart: %v", err)
	}

	if _, err := cli.Revoke("axis1.junk.junk", now); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("junk: %v", err)
	}
	if _, err := cli.Revoke(other, now.Add(2*time.Hour)); err == nil {
		t.Fatal("an expired token was revoked")
	}
	// A line half written when read is skipped, and read whole at the next look.
	f, _ := os.OpenFile(filepath.Join(dir, RevokedFile), os.O_WRONLY|os.O_APPEND, 0o600)
	sum := sha256.Sum256([]byte(other))
	line := fmt.Sprintf("%x %d\n", sum, now.Add(time.Hour).Unix())
	f.WriteString(line[:20])
	if _, err := daemon.Check(other, now.Add(2*revokedRefresh)); err != nil {
		t.Fatalf("a half line: %v", err)
	}
	f.WriteString(line[20:])
	f.Close()
	if _, err := daemon.Check(other, now.Add(3*revokedRefresh)); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("the line once whole: %v", err)
	}
}
