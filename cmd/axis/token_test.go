package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/axis/token"
)

// axis token issue, then revoke: the token file lists it once however often it is
// revoked; junk is refused with exit 1; a missing argument is a usage error.
func TestTokenRevokeCommand(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := run(t, nil, "token", "issue", "--data-dir", dir, "--agency", "000.00.00.G22")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.Contains(errOut, "no token secret in "+dir+" yet: created") {
		t.Fatalf("issue in a new directory said %q", errOut)
	}
	// Revoking against a directory with no secret (a mistyped --data-dir) creates nothing.
	wrong := filepath.Join(dir, "wrong")
	if _, errOut, code := run(t, nil, "token", "revoke", "--data-dir", wrong, tok); code != 1 || !strings.Contains(errOut, "give the daemon's --data-dir") {
		t.Fatalf("revoke in a directory without a secret: %d %s", code, errOut)
	}
	if _, err := os.Stat(wrong); !os.IsNotExist(err) {
		t.Fatalf("revoke created %s: %v", wrong, err)
	}
	for range 2 {
		if out, errOut, code := run(t, nil, "token", "revoke", "--data-dir", dir, tok); code != 0 || !strings.HasPrefix(out, "REVOKED agency:000.00.00.G22 token") {
			t.Fatalf("revoke: %d %q %s", code, out, errOut)
		}
	}
	if out, errOut, code := run(t, []byte(tok+"\n"), "token", "revoke", "--data-dir", dir, "-"); code != 0 {
		t.Fatalf("revoke from stdin: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := run(t, nil, "token", "revoke", "--data-dir", dir, "axis1.bogus.bogus"); code != 1 || !strings.Contains(errOut, "invalid token") {
		t.Fatalf("junk: %d %s", code, errOut)
	}
	if _, _, code := run(t, nil, "token", "revoke", "--data-dir", dir); code != 2 {
		t.Fatalf("no token: exit %d, want 2", code)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "token.revoked")); err != nil || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("token.revoked %q %v", b, err)
	}
}

// axis token rotate: with --grace earlier tokens still work, without it none does, and
// new ones do; usage errors exit 2, a missing secret 1.
func TestTokenRotateCommand(t *testing.T) {
	dir := t.TempDir()
	issue := func() string {
		t.Helper()
		out, errOut, code := run(t, nil, "token", "issue", "--data-dir", dir, "--auditor")
		if code != 0 {
			t.Fatalf("issue: %d %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	check := func(tok string) error {
		k, err := token.LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.Check(tok, time.Now())
		return err
	}
	first := issue()
	out, errOut, code := run(t, nil, "token", "rotate", "--data-dir", dir, "--grace", "1h")
	if code != 0 || !strings.HasPrefix(out, "ROTATED: tokens issued before stay valid until ") {
		t.Fatalf("rotate --grace: %d %q %s", code, out, errOut)
	}
	second := issue()
	if check(first) != nil || check(second) != nil {
		t.Fatal("refused after a rotation with grace")
	}
	out, errOut, code = run(t, nil, "token", "rotate", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "ROTATED: every token issued before is refused") {
		t.Fatalf("rotate: %d %q %s", code, out, errOut)
	}
	if check(first) == nil || check(second) == nil || check(issue()) != nil {
		t.Fatal("a rotation without grace")
	}
	if _, _, code := run(t, nil, "token", "rotate", "--data-dir", dir, "--grace", "-1s"); code != 2 {
		t.Fatalf("negative grace: exit %d", code)
	}
	if _, errOut, code := run(t, nil, "token", "rotate", "--data-dir", filepath.Join(dir, "none")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("no secret: exit %d %s", code, errOut)
	}
}
