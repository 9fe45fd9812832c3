package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// kill -HUP with a --registry that lacks the inbox's own agency (which `axis inbox`
// refuses at start) must keep the registry in use: reloading it makes the inbox refuse
// every package addressed to it (unknown_agency for its own id).
func TestInboxReloadKeepsOwnAgency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	d := startAgDaemon(t)
	work := t.TempDir()
	reg := filepath.Join(work, "agencies.json")
	if err := os.WriteFile(reg, agRegistryWithout(t), 0o644); err != nil {
		t.Fatal(err)
	}
	in := startAgInbox(t, d, filepath.Join(work, "inbox"), filepath.Join(d.pki, "root.pem"), "--registry", reg, "--log-level", "info")
	in.waitFor(t, "consuming", func(_, stderr string) bool { return strings.Contains(stderr, "consuming") })
	if err := os.WriteFile(reg, agRegistryWithout(t, agH41), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	in.waitFor(t, "the reload", func(_, stderr string) bool {
		return strings.Contains(stderr, "registry") && strings.Contains(stderr, "reloaded")
	})
	signed := filepath.Join(work, "decree.edxml")
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	if o, e, code := run(t, nil, "send", "--server", d.server, signed); code != 0 {
		t.Fatalf("send: %s %s", o, e)
	}
	in.waitFor(t, "the package", func(stdout, _ string) bool { return strings.Contains(stdout, agDoc) })
	if s := in.stdout.String(); !strings.Contains(s, "ARRIVED "+agDoc) {
		t.Fatalf("after a SIGHUP with a registry lacking %s, the inbox refuses its own packages: %q", agH41, s)
	}
}
