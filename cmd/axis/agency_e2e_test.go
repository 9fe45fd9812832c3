package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/client"
	"axis/store/audit"
)

// The agency and auditor tools against a real daemon with its embedded broker: the
// sender submits, three recipients receive and answer, one moves its state to completed,
// the sender receives the forwarded statuses, an auditor replays the audit topic.

const (
	agDoc        = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
	agG22, agG01 = "000.00.00.G22", "000.00.00.G01"
	agH41, agH53 = "000.00.00.H41", "000.00.00.H53"
	agRegistry   = "../../testdata/agencies.json"
)

func agFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type agDaemon struct {
	dir, pki, server, broker string
	registry                 string // --registry (default agRegistry)

	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
}

func (d *agDaemon) key(id string) string  { return filepath.Join(d.pki, "agencies", id+".key") }
func (d *agDaemon) cert(id string) string { return filepath.Join(d.pki, "agencies", id+".pem") }

// startAgDaemon runs `axis serve` with the embedded broker on free ports until the test ends.
func startAgDaemon(t *testing.T) *agDaemon {
	t.Helper()
	return startAgDaemonWith(t, agRegistry)
}

// startAgDaemonWith is startAgDaemon with another --registry (the PKI is agRegistry's).
func startAgDaemonWith(t *testing.T, registry string) *agDaemon {
	t.Helper()
	d := &agDaemon{dir: t.TempDir(), registry: registry}
	d.pki = filepath.Join(d.dir, "pki")
	if _, e, code := run(t, nil, "pki", "init", "--dir", d.pki, "--registry", agRegistry); code != 0 {
		t.Fatalf("pki init: %s", e)
	}
	httpAddr, brokerAddr := agFreeAddr(t), agFreeAddr(t)
	d.server, d.broker = "http://"+httpAddr, brokerAddr
	var err error
	if d.logf, err = os.Create(filepath.Join(d.dir, "serve.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop(t)
		d.logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logf.Name())
			t.Logf("serve.log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	d.start(t)
	return d
}

// start runs the daemon on d's data directory and ports and waits until it is ready.
func (d *agDaemon) start(t *testing.T) {
	t.Helper()
	d.cmd = exec.Command(axisBin, "serve", "--data-dir", filepath.Join(d.dir, "data"), "--registry", d.registry,
		"--trust", filepath.Join(d.pki, "root.pem"), "--identity-key", filepath.Join(d.pki, "axis.key"),
		"--identity-cert", filepath.Join(d.pki, "axis.pem"), "--http", strings.TrimPrefix(d.server, "http://"),
		"--embedded-broker", d.broker, "--embedded-broker-nosync", "--log-format", "json")
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	var logStart int64
	if st, err := d.logf.Stat(); err == nil {
		logStart = st.Size()
	}
	// Ready is this process's "axis ready": another test's daemon could answer /readyz on
	// the same address if it took the port first (this one then exits).
	readyLogged := func() bool {
		b, _ := os.ReadFile(d.logf.Name())
		return int64(len(b)) > logStart && strings.Contains(string(b[logStart:]), `"msg":"axis ready"`)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func() { d.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if readyLogged() {
			resp, err := http.Get(d.server + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(d.logf.Name())
			t.Fatalf("axis serve exited:\n%s", b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("axis serve not ready after 30 s")
		}
	}
}

// stop ends the daemon gracefully (it writes its final audit checkpoint).
func (d *agDaemon) stop(t *testing.T) {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Error("axis serve did not stop within 20 s of SIGTERM")
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

func (d *agDaemon) inbox(t *testing.T, id, out string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, nil, "inbox", "--agency", id, "--key", d.key(id), "--cert", d.cert(id), "--brokers", d.broker,
		"--out", out, "--trust", filepath.Join(d.pki, "root.pem"), "--registry", agRegistry)
}

func (d *agDaemon) token(t *testing.T, args ...string) string {
	t.Helper()
	out, e, code := run(t, nil, append([]string{"token", "issue", "--data-dir", filepath.Join(d.dir, "data")}, args...)...)
	if code != 0 {
		t.Fatalf("token issue: %s", e)
	}
	return strings.TrimSpace(out)
}

// states returns each recipient's state as `axis track --json` shows it.
func (d *agDaemon) states(t *testing.T, tok string) map[string]string {
	t.Helper()
	out, e, code := run(t, nil, "track", "--server", d.server, "--token", tok, agDoc, "--json")
	if code != 0 {
		t.Fatalf("track --json: %d %s", code, e)
	}
	var doc client.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("track --json: %v\n%s", err, out)
	}
	st := map[string]string{}
	for _, r := range doc.Recipients {
		st[r.OrganID] = r.State
	}
	return st
}

// waitStates polls until the recipients reach want (statuses travel through axis.status).
func (d *agDaemon) waitStates(t *testing.T, tok string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := d.states(t, tok)
		ok := true
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func agListFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

var agStatusLine = regexp.MustCompile(`(?m)^STATUS (\d\d) \([a-z /]+\) (\S+) from (\S+) -> \S+$`)

func agSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestAgencyToolsEndToEnd(t *testing.T) {
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

	// send: accepted, then the same bytes are "already accepted", an unsigned copy is refused.
	receipts := filepath.Join(work, "receipts")
	out, e, code := run(t, nil, "send", "--server", d.server, "--receipts", receipts, signed)
	want := "ACCEPTED " + signed + ": " + agDoc + " sha256 " + sum + " audit_seq 1 recipients " + agG01 + "," + agH41 + "," + agH53 + "\n"
	if code != 0 || out != want {
		t.Fatalf("send: %d\n%q\nwant\n%q\n%s", code, out, want, e)
	}
	if r, _ := os.ReadDir(receipts); len(r) != 1 {
		t.Fatalf("receipts: %v", r)
	}
	// The saved receipt verifies offline, pinned to the axis identity; pinned to
	// another certificate it is refused.
	root := filepath.Join(d.pki, "root.pem")
	if out, e, code := run(t, nil, "verify", "--trust", root, "--identity-cert", filepath.Join(d.pki, "axis.pem"), receipts); code != 0 ||
		!strings.HasPrefix(out, "OK "+agDoc+" from axis (acceptance receipt: "+agG22+", sha256 "+sum+", audit seq 1)") {
		t.Fatalf("verify the receipt: %d %q %s", code, out, e)
	}
	if out, _, code := run(t, nil, "verify", "--trust", root, "--identity-cert", d.cert(agG22), receipts); code != 1 || !strings.Contains(out, ": sender_mismatch: signed by ") {
		t.Fatalf("verify the receipt against another identity: %d %q", code, out)
	}
	out, _, code = run(t, nil, "send", "--server", d.server, signed, "../../testdata/demo/decree.edxml")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ALREADY_ACCEPTED "+signed+": "+agDoc+" sha256 "+sum+" audit_seq 1 ") ||
		lines[1] != "REJECTED ../../testdata/demo/decree.edxml: signature_missing: no XML-DSig Signature element" {
		t.Fatalf("resend: %d\n%s", code, out)
	}

	// Each recipient's inbox writes the exact package and answers 01.
	outs := map[string]string{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, id := range []string{agG01, agH41, agH53} {
		dir := filepath.Join(work, "inbox-"+id)
		outs[id] = dir
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, e, code := d.inbox(t, id, dir)
			mu.Lock()
			defer mu.Unlock()
			file := filepath.Join(dir, "000.00.00.G22_2026_11_22_1234_NĐ-CP."+sum[:12]+".edxml")
			if code != 0 || o != "ARRIVED "+agDoc+" from "+agG22+" -> "+file+"\n" {
				t.Errorf("inbox %s: %d\n%s\n%s", id, code, o, e)
				return
			}
			if got, _ := os.ReadFile(file); !bytes.Equal(got, decree) {
				t.Errorf("inbox %s: %s is not byte-identical to the signed package", id, file)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	auditor := d.token(t, "--auditor")
	d.waitStates(t, auditor, map[string]string{agG01: "arrived", agH41: "arrived", agH53: "arrived"})
	text, _, code := run(t, nil, "track", "--server", d.server, "--token", d.token(t, "--agency", agH41), agDoc)
	if code != 0 || !regexp.MustCompile(`(?m)^  000\.00\.00\.H41 +arrived 20`).MatchString(text) ||
		!strings.Contains(text, "01 arrived by "+agH41) || !strings.Contains(text, "receipt    signed by the axis: "+agDoc) {
		t.Fatalf("track:\n%s", text)
	}

	// A second run finds nothing: offsets were committed.
	before := agListFiles(t, outs[agH41])
	o, e, code := d.inbox(t, agH41, outs[agH41])
	if code != 0 || o != "" || !strings.Contains(e, "0 arrived, 0 statuses, 0 duplicates, 0 refused") {
		t.Fatalf("second inbox run: %d %q %q", code, o, e)
	}
	// A redelivery (at least once) is recognised by its sha256: nothing is written twice,
	// and the 01 published again is the very same signed answer (the axis records it once).
	kb, err := kafkabus.New(kafkabus.Config{Brokers: []string{d.broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deliver := func(topic string, value []byte) {
		t.Helper()
		err := kb.Publish(ctx, bus.Message{Topic: topic, Key: []byte(agDoc), Value: value, Headers: []bus.Header{
			{Key: "axis-type", Value: []byte("edoc")}, {Key: "axis-document-id", Value: []byte(agDoc)},
			{Key: "axis-from", Value: []byte(agG22)}, {Key: "axis-sha256", Value: []byte(agSum(value))}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	deliver("axis.inbox."+agH41, decree)
	o, e, code = d.inbox(t, agH41, outs[agH41])
	if code != 0 || !strings.HasPrefix(o, "DUPLICATE "+agDoc+" from "+agG22+" (already in ") || !strings.Contains(e, "1 duplicates") {
		t.Fatalf("redelivered package: %d %q %q", code, o, e)
	}
	if after := agListFiles(t, outs[agH41]); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("files changed: %v -> %v", before, after)
	}

	// Statuses from a recipient move its state; one from an agency that is no recipient is refused.
	for _, c := range []string{"03", "04", "05", "06"} {
		o, e, code := run(t, nil, "status", "--server", d.server, "--key", d.key(agH41), "--cert", d.cert(agH41), "--doc", agDoc, "--code", c)
		if code != 0 || !strings.HasPrefix(o, "RECORDED "+c+" (") || !strings.Contains(o, " for "+agDoc+" from "+agH41+" audit_seq ") {
			t.Fatalf("status %s: %d %q %q", c, code, o, e)
		}
	}
	o, _, code = run(t, nil, "status", "--server", d.server, "--key", d.key("000.00.00.G14"), "--cert", d.cert("000.00.00.G14"),
		"--doc", agDoc, "--code", "03")
	if code != 1 || !strings.HasPrefix(o, "REJECTED 03 "+agDoc+": status_not_allowed: ") {
		t.Fatalf("status from a stranger: %d %q", code, o)
	}
	d.waitStates(t, auditor, map[string]string{agG01: "arrived", agH41: "completed", agH53: "arrived"})

	// The sender's inbox receives every forwarded status (three 01, then 03..06) and
	// answers none of them.
	senderOut := filepath.Join(work, "inbox-"+agG22)
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < 7 && time.Now().Before(deadline) {
		o, e, code := d.inbox(t, agG22, senderOut)
		if code != 0 {
			t.Fatalf("sender inbox: %d %s %s", code, o, e)
		}
		for _, m := range agStatusLine.FindAllStringSubmatch(o, -1) {
			if m[2] != agDoc {
				t.Fatalf("status about %q", m[2])
			}
			got = append(got, m[1]+" "+m[3])
		}
	}
	sort.Strings(got)
	wantStatuses := []string{"01 " + agG01, "01 " + agH41, "01 " + agH53, "03 " + agH41, "04 " + agH41, "05 " + agH41, "06 " + agH41}
	if strings.Join(got, ",") != strings.Join(wantStatuses, ",") {
		t.Fatalf("sender received %v, want %v", got, wantStatuses)
	}
	if files := agListFiles(t, senderOut); len(files) != 7 || !strings.HasPrefix(files[0], "status/") {
		t.Fatalf("sender inbox files: %v", files)
	}

	// A tampered package put straight on an inbox topic is refused: not written to the
	// inbox, not answered, kept in refused/ with its error (evidence, or a document a
	// verifier of another version refused).
	h53Before := agListFiles(t, outs[agH53])
	deliver("axis.inbox."+agH53, bytes.Replace(decree, []byte("Nghị định quy định"), []byte("Nghị quyết quy định"), 1))
	o, e, code = d.inbox(t, agH53, outs[agH53])
	if code != 1 || !strings.HasPrefix(o, "REFUSED axis.inbox."+agH53+"/0@1 "+agDoc+": signature_invalid: ") ||
		!strings.Contains(e, "1 refused") {
		t.Fatalf("tampered: %d %q %q", code, o, e)
	}
	var kept []string
	for _, f := range agListFiles(t, outs[agH53]) {
		if !slices.Contains(h53Before, f) {
			kept = append(kept, f)
		}
	}
	if len(kept) != 2 || !strings.HasPrefix(kept[0], "refused/") || !strings.HasSuffix(kept[1], ".error.json") {
		t.Fatalf("tampered package left files: %v", kept)
	}
	// No 01 came from that refusal: H53's history still holds exactly one status.
	var view client.Document
	if o, _, _ := run(t, nil, "track", "--server", d.server, "--token", auditor, agDoc, "--json"); json.Unmarshal([]byte(o), &view) != nil {
		t.Fatal("track --json")
	}
	for _, r := range view.Recipients {
		if n := len(r.History); r.OrganID == agH53 && n != 2 {
			t.Fatalf("H53 history has %d entries: %+v", n, r.History)
		}
	}

	// The audit topic alone gives the same per-recipient states as the read API.
	trackStates := d.states(t, auditor)
	var hist struct {
		Documents []struct {
			DocumentID string `json:"document_id"`
			Recipients []struct {
				OrganID string `json:"organ_id"`
				State   string `json:"state"`
			} `json:"recipients"`
		} `json:"documents"`
		Report struct {
			LastSeq uint64 `json:"LastSeq"`
		} `json:"report"`
	}
	replayArgs := []string{"audit", "replay", "--brokers", d.broker, "--trust", filepath.Join(d.pki, "root.pem")}
	deadline = time.Now().Add(30 * time.Second)
	for {
		o, e, code := run(t, nil, append(replayArgs, "--json")...)
		if code != 0 {
			t.Fatalf("audit replay --json: %d %s", code, e)
		}
		if err := json.Unmarshal([]byte(o), &hist); err != nil || len(hist.Documents) != 1 {
			t.Fatalf("replay json: %v %d", err, len(hist.Documents))
		}
		replayStates := map[string]string{}
		for _, r := range hist.Documents[0].Recipients {
			replayStates[r.OrganID] = r.State
		}
		if len(replayStates) == 3 && replayStates[agG01] == trackStates[agG01] && replayStates[agH41] == trackStates[agH41] &&
			replayStates[agH53] == trackStates[agH53] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay states %v, track states %v", replayStates, trackStates)
		}
		time.Sleep(300 * time.Millisecond)
	}
	text, _, code = run(t, nil, replayArgs...)
	if code != 0 || !strings.Contains(text, "DOCUMENT "+agDoc+" from "+agG22+" sha256 "+sum[:12]+" accepted seq 1") ||
		!strings.Contains(text, "  "+agH41+": completed\n") || !regexp.MustCompile(`(?m)^OK events=\d+ last_seq=\d+ documents=1 published=3 statuses=7 forwarded=7 `).MatchString(text) {
		t.Fatalf("audit replay:\n%s", text)
	}

	// A graceful stop writes a signed checkpoint; the replay verifies its XML-DSig with --trust.
	d.stop(t)
	d.start(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		text, e, code := run(t, nil, replayArgs...)
		if code != 0 {
			t.Fatalf("replay after restart: %d %s\n%s", code, e, text)
		}
		if strings.Contains(text, " checkpoints=1 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after a graceful stop:\n%s", text)
		}
		time.Sleep(200 * time.Millisecond)
	}
	o, _, _ = run(t, nil, append(replayArgs, "--json")...)
	if err := json.Unmarshal([]byte(o), &hist); err != nil {
		t.Fatal(err)
	}

	// A corrupted event injected into the topic is caught, and named by its seq.
	last := hist.Report.LastSeq
	forged := audit.Event{Seq: last + 1, Time: time.Now(), Type: audit.Status, DocumentID: agDoc, From: agH41, To: agG22, Code: "06",
		Prev: strings.Repeat("0", 64)}
	line, _ := audit.Line(&forged)
	if err := kb.Publish(ctx, bus.Message{Topic: "axis.audit", Key: []byte(strconv.FormatUint(last+1, 10)), Value: line}); err != nil {
		t.Fatal(err)
	}
	text, _, code = run(t, nil, replayArgs...)
	if wantBreak := "BROKEN first_bad_seq=" + strconv.FormatUint(last+1, 10) + " "; code != 1 || !strings.Contains(text, wantBreak) {
		t.Fatalf("corrupted audit topic: exit %d, want %q in\n%s", code, wantBreak, text)
	}

	// --follow: a running inbox receives a package sent while it runs, and stops cleanly
	// on SIGTERM.
	followOut := filepath.Join(work, "follow-"+agH41)
	var stdout, stderr agSyncBuffer
	cmd := exec.Command(axisBin, "inbox", "--follow", "--agency", agH41, "--key", d.key(agH41), "--cert", d.cert(agH41),
		"--brokers", d.broker, "--out", followOut, "--trust", filepath.Join(d.pki, "root.pem"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	raw, _ := os.ReadFile("../../testdata/demo/decree.edxml")
	second := filepath.Join(work, "second.edxml")
	os.WriteFile(second, bytes.ReplaceAll(raw, []byte("1234/NĐ-CP"), []byte("1240/NĐ-CP")), 0o644)
	if _, e, code := run(t, nil, "sign", "--key", d.key(agG22), "--cert", d.cert(agG22), second, "-o", second); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	if o, e, code := run(t, nil, "send", "--server", d.server, second); code != 0 {
		t.Fatalf("send: %s %s", o, e)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "ARRIVED 000.00.00.G22,2026/11/22,1240/NĐ-CP from "+agG22) {
		if time.Now().After(deadline) {
			t.Fatalf("inbox --follow: %q %q", stdout.String(), stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "inbox "+agH41+": 1 arrived, 0 statuses, 0 duplicates, 0 refused") {
		t.Fatalf("inbox --follow after SIGTERM: %v %q", err, stderr.String())
	}
}

// agSyncBuffer is a bytes.Buffer safe to read while a process writes to it.
type agSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *agSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *agSyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// agInbox is a running `axis inbox --follow` for H41.
type agInbox struct {
	cmd            *exec.Cmd
	stdout, stderr agSyncBuffer
}

// startAgInbox runs `axis inbox --follow` for H41 on d's broker, writing to out and
// trusting trust, with extra flags; it is killed when the test ends.
func startAgInbox(t *testing.T, d *agDaemon, out, trust string, extra ...string) *agInbox {
	t.Helper()
	p := &agInbox{}
	p.cmd = exec.Command(axisBin, append([]string{"inbox", "--follow", "--agency", agH41, "--key", d.key(agH41), "--cert", d.cert(agH41),
		"--brokers", d.broker, "--out", out, "--trust", trust}, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// waitFor waits up to 30 s for ok on what the inbox printed so far.
func (p *agInbox) waitFor(t *testing.T, what string, ok func(stdout, stderr string) bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(p.stdout.String(), p.stderr.String()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stdout %q stderr %q", what, p.stdout.String(), p.stderr.String())
		}
	}
}

// agRegistryWithout is the sample registry (JSON) without the agencies named.
func agRegistryWithout(t *testing.T, ids ...string) []byte {
	t.Helper()
	full, err := os.ReadFile(agRegistry)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Agencies []map[string]any `json:"agencies"`
	}
	if err := json.Unmarshal(full, &f); err != nil {
		t.Fatal(err)
	}
	f.Agencies = slices.DeleteFunc(f.Agencies, func(a map[string]any) bool { return slices.Contains(ids, a["id"].(string)) })
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
