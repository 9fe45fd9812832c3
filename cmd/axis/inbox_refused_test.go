package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"axis/axis/errs"
)

// A package the axis accepted but this inbox refuses because of its own configuration
// (here a smaller --max-package-bytes) is kept in --out/refused/ with its error body,
// named on the REFUSED line, before its offset is committed: a later run with the
// configuration fixed finds nothing pending, so the kept copy is the only one left, and
// nothing was answered. Once fixed, --retry-refused handles it.
func TestInboxKeepsRefusedPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	d := startAgDaemon(t)
	work := t.TempDir()
	signed := filepath.Join(work, "decree.edxml")
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	decree, _ := os.ReadFile(signed)
	sum := agSum(decree)
	if out, e, code := run(t, nil, "send", "--server", d.server, signed); code != 0 || !strings.HasPrefix(out, "ACCEPTED ") {
		t.Fatalf("send: %d %q %s", code, out, e)
	}
	auditor := d.token(t, "--auditor")
	d.waitStates(t, auditor, map[string]string{agH41: "published"}) // on the inbox topic
	out := filepath.Join(work, "inbox")
	args := []string{"inbox", "--agency", agH41, "--key", d.key(agH41), "--cert", d.cert(agH41), "--brokers", d.broker,
		"--out", out, "--trust", filepath.Join(d.pki, "root.pem"), "--registry", agRegistry}
	o, e, code := run(t, nil, append(args, "--max-package-bytes", "1024")...)
	kept := filepath.Join(out, "refused", "000.00.00.G22_2026_11_22_1234_NĐ-CP."+sum[:12]+".edxml")
	if code != 1 || !strings.HasPrefix(o, "REFUSED axis.inbox."+agH41+"/0@0 "+agDoc+": too_large: ") ||
		!strings.HasSuffix(o, " -> "+kept+"\n") || !strings.Contains(e, "1 refused") {
		t.Fatalf("inbox with a small limit: %d %q %q", code, o, e)
	}
	if got, _ := os.ReadFile(kept); !bytes.Equal(got, decree) {
		t.Fatalf("%s does not hold the exact package", kept)
	}
	var body errs.Body
	if js, _ := os.ReadFile(kept + ".error.json"); json.Unmarshal(js, &body) != nil || body.Error.Code != "too_large" {
		t.Fatalf("error body %+v", body)
	}
	if files := agListFiles(t, out); len(files) != 2 {
		t.Fatalf("written outside refused/: %v", files)
	}
	// The offset was committed: the package is not delivered again.
	if o, e, code := run(t, nil, args...); code != 0 || o != "" || !strings.Contains(e, "0 arrived, 0 statuses, 0 duplicates, 0 refused") {
		t.Fatalf("second run: %d %q %q", code, o, e)
	}
	if st := d.states(t, auditor); st[agH41] != "published" {
		t.Fatalf("H41's delivery is %q: nothing was answered, want published", st[agH41])
	}
	// The limit fixed, --retry-refused handles the kept copy: written, answered (the
	// sender sees "arrived"), and gone from refused/.
	o, e, code = run(t, nil, append(args, "--retry-refused")...)
	if code != 0 || !strings.HasPrefix(o, "ARRIVED "+agDoc+" from "+agG22) || !strings.Contains(e, "1 handled now, 0 still refused") {
		t.Fatalf("retry: %d %q %q", code, o, e)
	}
	if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Fatalf("%s still in refused/", kept)
	}
	d.waitStates(t, auditor, map[string]string{agH41: "arrived"})
}

// A running `axis inbox --follow --retry-refused` refuses a package whose CA its --trust
// lacks; the operator fixes the file and sends SIGHUP: the trust store is read again and
// refused/ handled again, and the sender sees "arrived", without a restart.
func TestInboxRetriesRefusedOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	d := startAgDaemon(t)
	work := t.TempDir()
	otherPKI := filepath.Join(work, "other-pki")
	if _, e, code := run(t, nil, "pki", "init", "--dir", otherPKI, "--registry", agRegistry); code != 0 {
		t.Fatalf("pki init: %s", e)
	}
	trust := filepath.Join(work, "trust.pem")
	wrongRoot, _ := os.ReadFile(filepath.Join(otherPKI, "root.pem"))
	if err := os.WriteFile(trust, wrongRoot, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "inbox")
	in := startAgInbox(t, d, out, trust, "--retry-refused", "--registry", agRegistry)
	in.waitFor(t, "the first retry at start", func(_, stderr string) bool { return strings.Contains(stderr, "0 handled now, 0 still refused") })

	signed := filepath.Join(work, "decree.edxml")
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	if o, e, code := run(t, nil, "send", "--server", d.server, signed); code != 0 {
		t.Fatalf("send: %s %s", o, e)
	}
	in.waitFor(t, "the refusal", func(stdout, _ string) bool {
		return strings.Contains(stdout, "REFUSED axis.inbox."+agH41+"/0@0 "+agDoc+": ")
	})
	auditor := d.token(t, "--auditor")
	if st := d.states(t, auditor); st[agH41] != "published" {
		t.Fatalf("H41's delivery is %q after the refusal, want published", st[agH41])
	}

	right, _ := os.ReadFile(filepath.Join(d.pki, "root.pem"))
	if err := os.WriteFile(trust, right, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	in.waitFor(t, "the retry after SIGHUP", func(stdout, stderr string) bool {
		return strings.Contains(stdout, "ARRIVED "+agDoc+" from "+agG22) && strings.Contains(stderr, "1 handled now, 0 still refused")
	})
	d.waitStates(t, auditor, map[string]string{agH41: "arrived"})
	if left, _ := os.ReadDir(filepath.Join(out, "refused")); len(left) != 0 {
		t.Errorf("refused/ still holds %d files", len(left))
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	if err := in.cmd.Wait(); err != nil {
		t.Fatalf("inbox after SIGTERM: %v %q", err, in.stderr.String())
	}
}
