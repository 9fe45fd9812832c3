package token

import (
	"os"
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
