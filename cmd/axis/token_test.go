package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
