package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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
	full, err := os.ReadFile(agRegistry)
	if err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(work, "agencies.json")
	if err := os.WriteFile(reg, full, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "inbox")
	var stdout, stderr agSyncBuffer
	cmd := exec.Command(axisBin, "inbox", "--follow", "--agency", agH41, "--key", d.key(agH41), "--cert", d.cert(agH41),
		"--brokers", d.broker, "--out", out, "--trust", filepath.Join(d.pki, "root.pem"), "--registry", reg, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stdout %q stderr %q", what, stdout.String(), stderr.String())
			}
		}
	}
	waitFor("consuming", func() bool { return strings.Contains(stderr.String(), "consuming") })

	var f struct {
		Agencies []map[string]any `json:"agencies"`
	}
	if err := json.Unmarshal(full, &f); err != nil {
		t.Fatal(err)
	}
	f.Agencies = slices.DeleteFunc(f.Agencies, func(a map[string]any) bool { return a["id"] == agH41 })
	without, _ := json.Marshal(f)
	if err := os.WriteFile(reg, without, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the reload", func() bool {
		return strings.Contains(stderr.String(), "registry") && strings.Contains(stderr.String(), "reloaded")
	})

	signed := filepath.Join(work, "decree.edxml")
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	if o, e, code := run(t, nil, "send", "--server", d.server, signed); code != 0 {
		t.Fatalf("send: %s %s", o, e)
	}
	waitFor("the package", func() bool { return strings.Contains(stdout.String(), agDoc) })
	if s := stdout.String(); !strings.Contains(s, "ARRIVED "+agDoc) {
		t.Fatalf("after a SIGHUP with a registry lacking %s, the inbox refuses its own packages: %q", agH41, s)
	}
}
