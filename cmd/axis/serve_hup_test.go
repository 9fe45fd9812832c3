package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kill -HUP makes a running axis read --registry again: an agency added to the file can
// be addressed without a restart, its inbox topic created.
func TestServeReloadsRegistryOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	work := t.TempDir()
	reg := filepath.Join(work, "agencies.json")
	if err := os.WriteFile(reg, agRegistryWithout(t, agH53), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startAgDaemonWith(t, reg)
	signed := filepath.Join(work, "decree.edxml")
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	if o, _, code := run(t, nil, "send", "--server", d.server, signed); code != 1 || !strings.Contains(o, "REJECTED "+signed+": unknown_agency: ") {
		t.Fatalf("send to an agency not in the registry: %d %q", code, o)
	}
	if err := os.WriteFile(reg, agRegistryWithout(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		o, _, code := run(t, nil, "send", "--server", d.server, signed)
		if code == 0 && strings.HasPrefix(o, "ACCEPTED ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %d %q", code, o)
		}
	}
	d.waitStates(t, d.token(t, "--auditor"), map[string]string{agH53: "published"})
	if log, _ := os.ReadFile(d.logf.Name()); !strings.Contains(string(log), `"msg":"registry reloaded"`) {
		t.Errorf("no registry reloaded line in the log")
	}
}
