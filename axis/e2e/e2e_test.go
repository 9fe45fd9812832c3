package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"axis/axis/bus"
)

// kcat (librdkafka, not kafka-go) reads an inbox topic the daemon wrote: the key, every
// SPEC §8 header and the exact signed bytes.
func TestKcatReadsInbox(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is required in CI")
		}
		t.Skip("kcat not installed")
	}
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	s := corpus(t, 100, 1)[0]
	code, body, err := post(d.url(""), s.Bytes)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("POST: %d %v %s", code, err, body)
	}
	var answer struct {
		AcceptedAt time.Time `json:"accepted_at"`
		AuditSeq   uint64    `json:"audit_seq"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatal(err)
	}
	topic := "axis.inbox." + recipients[1]
	var meta []byte
	deadline := time.Now().Add(30 * time.Second)
	for len(meta) == 0 && time.Now().Before(deadline) {
		meta, err = exec.Command(kcat, "-C", "-b", d.broker, "-t", topic, "-f", "%k\n%h\n", "-e", "-q").Output()
		if err != nil {
			t.Fatalf("kcat: %v\n%s", err, exitStderr(err))
		}
		if len(meta) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(meta)), "\n")
	if len(lines) != 2 {
		t.Fatalf("kcat printed %q, want one message", meta)
	}
	if lines[0] != s.DocID {
		t.Errorf("key %q, want %q", lines[0], s.DocID)
	}
	// kcat joins headers with commas, and DocumentIds hold commas: split at ",axis-".
	headers := map[string]string{}
	for _, kv := range strings.Split(","+lines[1], ",axis-")[1:] {
		k, v, _ := strings.Cut(kv, "=")
		headers["axis-"+k] = v
	}
	want := map[string]string{
		"axis-type": "edoc", "axis-document-id": s.DocID, "axis-from": govOffice, "axis-sha256": s.SHA,
		"axis-accepted-at": answer.AcceptedAt.UTC().Format(time.RFC3339),
		"axis-audit-seq":   strconv.FormatUint(answer.AuditSeq, 10),
	}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q (kcat: %s)", k, headers[k], v, lines[1])
		}
	}
	value, err := exec.Command(kcat, "-C", "-b", d.broker, "-t", topic, "-f", "%s", "-c", "1", "-e", "-q").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	if !bytes.Equal(value, s.Bytes) {
		sum := sha256.Sum256(value)
		t.Errorf("kcat read %d bytes (sha256 %s), want the %d signed bytes", len(value), hex.EncodeToString(sum[:]), len(s.Bytes))
	}
}

// kill -9 of the daemon (and its embedded broker) while submissions are in flight:
// after a restart, every package that got 202 reaches every recipient's inbox, none
// is lost, resubmissions are idempotent, and the audit log exports and verifies.
func TestKill9DuringSubmissions(t *testing.T) {
	// 100 clients, one submission each, all at once: the kill at the 10th answer meets
	// requests in every stage (read, verified, in a group commit, answered or not).
	n, workers, killAfter := 100, 100, 10
	if long() {
		n, killAfter = 1000, 400
	}
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	subs := corpus(t, 1000, n)

	var accepted sync.Map // sha -> HTTP status before the kill
	var okCount atomic.Int32
	var failed atomic.Int32
	killed := make(chan struct{})
	var once sync.Once
	work := make(chan submission)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				code, _, err := post(d.url(""), s.Bytes)
				switch {
				case err == nil && (code == http.StatusAccepted || code == http.StatusOK):
					accepted.Store(s.SHA, code)
					if okCount.Add(1) == int32(killAfter) {
						once.Do(func() {
							d.kill9()
							close(killed)
						})
					}
				case err == nil && code != http.StatusServiceUnavailable:
					t.Errorf("%s: HTTP %d", s.DocID, code)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	for _, s := range subs {
		work <- s
	}
	close(work)
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d submissions succeeded; the daemon was never killed", okCount.Load())
	}
	want := map[string]bool{}
	accepted.Range(func(k, _ any) bool { want[k.(string)] = true; return true })
	t.Logf("before kill -9: %d of %d answered 202/200, %d failed (connection refused or reset)", len(want), n, failed.Load())

	d.restart(t)
	// Every 202 is in the store...
	tok := d.auditorToken(t)
	for _, s := range subs {
		if !want[s.SHA] {
			continue
		}
		req, _ := http.NewRequest("GET", d.url("/v1/documents/"+url.PathEscape(s.DocID)), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s answered 202 before the kill, now GET says %d", s.DocID, resp.StatusCode)
		}
	}
	// ...and on every recipient's inbox (at least once).
	seen := inboxes(t, d.broker, want, 90*time.Second)
	total, dups := checkDelivered(t, seen, want)
	t.Logf("after restart: %d accepted packages x %d inboxes, %d messages read, %d duplicates (at least once)",
		len(want), len(recipients), total, dups)

	// Resubmitting everything: what was accepted answers 200; the rest is accepted now.
	again := map[int]int{}
	for _, s := range subs {
		code, body, err := post(d.url(""), s.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		again[code]++
		if want[s.SHA] && code != http.StatusOK {
			t.Errorf("%s: resubmission after the crash answered %d %s, want 200", s.DocID, code, body)
		}
		if code != http.StatusOK && code != http.StatusAccepted {
			t.Errorf("%s: resubmission answered %d %s", s.DocID, code, body)
		}
	}
	t.Logf("resubmission of all %d: %v (%d were committed before the kill but never answered)", n, again, again[http.StatusOK]-len(want))

	d.signal(syscall.SIGTERM)
	if _, ok := d.wait(30 * time.Second); !ok {
		t.Fatal("daemon did not stop on SIGTERM")
	}
	verify, last := auditExportVerify(t, d.dir, dir)
	t.Logf("audit verify: %s", verify)
	if !strings.HasPrefix(verify, "OK ") || strings.Contains(verify, "warning") {
		t.Errorf("audit verify: %s", verify)
	}
	if !strings.Contains(last, `"type":"checkpoint"`) {
		t.Errorf("audit log does not end with a checkpoint: %s", last)
	}
}

// The broker as its own process, stopped with SIGKILL for 15 s while agencies keep
// submitting: every submission still gets 202 (durable in the store), and once the
// broker is back on the same port and data directory everything is delivered.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	outage, rate := 15*time.Second, 150*time.Millisecond
	before, after := 10, 10
	if long() {
		rate, before, after = 30*time.Millisecond, 100, 100
	}
	dir := t.TempDir()
	brokerAddr, brokerDir := freePort(t), filepath.Join(dir, "kafka")
	br := startBroker(t, brokerAddr, brokerDir, filepath.Join(dir, "broker.log"))
	d := startDaemon(t, dir, freePort(t), brokerAddr, "")

	subs := corpus(t, 5000, before+int(outage/rate)+after+10)
	next := 0
	want := map[string]bool{}
	submit := func(s submission) {
		t.Helper()
		code, body, err := post(d.url(""), s.Bytes)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("%s: %d %v %s", s.DocID, code, err, body)
		}
		want[s.SHA] = true
	}
	for range before {
		submit(subs[next])
		next++
	}
	// Let the first ones reach the broker, so the outage hits a daemon in full flow.
	seen := inboxes(t, brokerAddr, want, 60*time.Second)
	checkDelivered(t, seen, want)

	br.kill9()
	down := time.Now()
	during := 0
	for time.Since(down) < outage {
		submit(subs[next])
		next++
		during++
		time.Sleep(rate)
	}
	if resp, err := http.Get(d.url("/readyz")); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz during the broker outage: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	br = startBroker(t, brokerAddr, brokerDir, filepath.Join(dir, "broker.log"))
	up := time.Now()
	for range after {
		submit(subs[next])
		next++
	}
	seen = inboxes(t, brokerAddr, want, 90*time.Second)
	total, dups := checkDelivered(t, seen, want)
	t.Logf("broker down %v: %d submissions during the outage all 202; %d accepted in all, %d messages read, %d duplicates; all delivered %v after the broker came back",
		up.Sub(down).Round(time.Millisecond), during, len(want), total, dups, time.Since(up).Round(time.Millisecond))
	if d.exited() {
		t.Fatalf("the daemon died during the outage: %v", d.proc.err)
	}
}

// SIGTERM: /readyz fails first, the daemon drains and stops within its grace period
// with exit status 0, and the audit log ends with a checkpoint.
func TestSIGTERM(t *testing.T) {
	dir := t.TempDir()
	const grace = 10 * time.Second
	d := startDaemon(t, dir, freePort(t), "", freePort(t), "--shutdown-grace", grace.String())
	// Eight clients submit without pause; SIGTERM comes after the 20th 202.
	subs := corpus(t, 9000, 200)
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]bool{}
	work := make(chan submission, len(subs))
	for _, s := range subs {
		work <- s
	}
	close(work)
	twenty := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if code, _, err := post(d.url(""), s.Bytes); err == nil && code == http.StatusAccepted {
					mu.Lock()
					if want[s.SHA] = true; len(want) == 20 {
						close(twenty)
					}
					mu.Unlock()
				}
			}
		}()
	}
	<-twenty

	notReady := make(chan time.Time, 1)
	go func() {
		for !d.exited() {
			resp, err := http.Get(d.url("/readyz"))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				notReady <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	sent := time.Now()
	d.signal(syscall.SIGTERM)
	err, ok := d.wait(grace + 5*time.Second)
	if !ok {
		t.Fatalf("still running %v after SIGTERM (grace %v)", grace+5*time.Second, grace)
	}
	stoppedAt := time.Now()
	wg.Wait()
	if err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if took := stoppedAt.Sub(sent); took > grace {
		t.Errorf("shutdown took %v, grace %v", took, grace)
	}
	select {
	case at := <-notReady:
		if at.After(stoppedAt) {
			t.Errorf("/readyz failed only after the process exited")
		}
		t.Logf("/readyz failed %v after SIGTERM; process exited %v after SIGTERM", at.Sub(sent).Round(time.Millisecond), stoppedAt.Sub(sent).Round(time.Millisecond))
	default:
		t.Error("/readyz never failed")
	}
	log, _ := os.ReadFile(d.log)
	if os.Getenv("AXIS_E2E_SHOWLOG") != "" {
		t.Logf("%s", log)
	}
	iShut, iStop := bytes.Index(log, []byte(`"shutting down"`)), bytes.LastIndex(log, []byte(`"stopped"`))
	if iShut < 0 || iStop < iShut {
		t.Errorf("log lacks \"shutting down\" then \"stopped\"")
	}
	verify, last := auditExportVerify(t, d.dir, dir)
	if !strings.HasPrefix(verify, "OK ") || strings.Contains(verify, "warning") {
		t.Errorf("audit verify: %s", verify)
	}
	var line struct {
		Event struct{ Type string } `json:"event"`
	}
	if json.Unmarshal([]byte(last), &line); line.Event.Type != "checkpoint" {
		t.Errorf("audit log ends with %q, want a checkpoint: %s", line.Event.Type, last)
	}
	t.Logf("audit verify: %s", verify)

	// What was answered 202 while shutting down was durable: after a restart it is
	// delivered.
	d.restart(t)
	total, _ := checkDelivered(t, inboxes(t, d.broker, want, 60*time.Second), want)
	t.Logf("%d of %d submissions racing the SIGTERM got 202; all delivered after a restart (%d messages)", len(want), len(subs), total)

	// axis.audit holds the whole log as exported, final checkpoint included, in order
	// (at least once: a repeated seq is a duplicate of the same line).
	exported, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(exported)), "\n")
	var topic []string
	dup := map[string]bool{}
	consume(t, d.broker, "axis.audit", 60*time.Second, func(m []bus.Message) bool {
		if v := string(m[len(m)-1].Value); !dup[v] {
			dup[v] = true
			topic = append(topic, v)
		}
		return len(topic) >= len(lines)
	})
	if len(topic) < len(lines) {
		t.Fatalf("axis.audit holds %d events, the export %d", len(topic), len(lines))
	}
	for i := range lines {
		if topic[i] != lines[i] {
			t.Fatalf("axis.audit line %d differs from the export:\n%s\n%s", i+1, topic[i], lines[i])
		}
	}
	t.Logf("axis.audit carries all %d exported events in order, ending with the shutdown checkpoint", len(lines))
}

// SIGTERM while the broker is down: the daemon cannot flush, and must still stop within
// its grace period, keep what it accepted for the next start, and close its audit log
// with a checkpoint. Restarted while the broker is still down it starts and accepts;
// once the broker is back, everything is delivered.
func TestSIGTERMWithBrokerDown(t *testing.T) {
	t.Parallel()
	const grace = 3 * time.Second
	dir := t.TempDir()
	brokerAddr, brokerDir := freePort(t), filepath.Join(dir, "kafka")
	br := startBroker(t, brokerAddr, brokerDir, filepath.Join(dir, "broker.log"))
	d := startDaemon(t, dir, freePort(t), brokerAddr, "", "--shutdown-grace", grace.String())
	br.kill9()
	want := map[string]bool{}
	for _, s := range corpus(t, 7000, 5) {
		code, body, err := post(d.url(""), s.Bytes)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("%s: %d %v %s", s.DocID, code, err, body)
		}
		want[s.SHA] = true
	}
	sent := time.Now()
	d.signal(syscall.SIGTERM)
	err, ok := d.wait(grace + 30*time.Second)
	took := time.Since(sent)
	if !ok {
		t.Fatalf("still running %v after SIGTERM", grace+30*time.Second)
	}
	t.Logf("stopped %v after SIGTERM with the broker down (grace %v): %v", took.Round(time.Millisecond), grace, err)
	if took > grace+time.Second {
		t.Errorf("shutdown took %v, grace %v", took, grace)
	}
	verify, last := auditExportVerify(t, d.dir, dir)
	if !strings.HasPrefix(verify, "OK ") || strings.Contains(verify, "warning") || !strings.Contains(last, `"type":"checkpoint"`) {
		t.Errorf("audit verify: %s; last line %s", verify, last)
	}
	// Restarted while the broker is still down, the daemon starts and accepts.
	started := time.Now()
	d.restart(t)
	t.Logf("restarted with the broker down: ready after %v", time.Since(started).Round(time.Millisecond))
	for _, s := range corpus(t, 7100, 5) {
		code, body, err := post(d.url(""), s.Bytes)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("%s with the broker down since start: %d %v %s", s.DocID, code, err, body)
		}
		want[s.SHA] = true
	}
	startBroker(t, brokerAddr, brokerDir, filepath.Join(dir, "broker.log"))
	back := time.Now()
	checkDelivered(t, inboxes(t, brokerAddr, want, 60*time.Second), want)
	t.Logf("all %d delivered %v after the broker came back", len(want), time.Since(back).Round(time.Millisecond))
}

// Statuses published on axis.status by an agency system (kafka-go, real broker): a good
// one is recorded and forwarded to the sender, a bad one lands on axis.dlq with its
// error headers, and the consumer's committed offsets survive a restart (nothing is
// processed twice).
func TestStatusTopicOverKafka(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	s := corpus(t, 8000, 1)[0]
	if code, body, err := post(d.url(""), s.Bytes); err != nil || code != http.StatusAccepted {
		t.Fatalf("POST: %d %v %s", code, err, body)
	}
	good := signedStatus(t, recipients[0], s.DocID, "03")
	bad := signedStatus(t, "000.00.00.G12", s.DocID, "01") // not a recipient
	publish(t, d.broker,
		bus.Message{Topic: "axis.status", Key: []byte(s.DocID), Value: good},
		bus.Message{Topic: "axis.status", Key: []byte(s.DocID), Value: bad})

	dlq := consume(t, d.broker, "axis.dlq", 60*time.Second, func(m []bus.Message) bool { return len(m) >= 1 })
	if len(dlq) != 1 || !bytes.Equal(dlq[0].Value, bad) || dlq[0].Header("axis-error-code") != "status_not_allowed" || dlq[0].Header("axis-error") == "" {
		t.Fatalf("axis.dlq: %d messages %+v", len(dlq), dlq)
	}
	fwd := consume(t, d.broker, "axis.inbox."+govOffice, 60*time.Second, func(m []bus.Message) bool { return len(m) >= 1 })
	if len(fwd) != 1 || !bytes.Equal(fwd[0].Value, good) || fwd[0].Header("axis-type") != "status" {
		t.Fatalf("sender inbox: %d messages", len(fwd))
	}

	d.signal(syscall.SIGTERM)
	if _, ok := d.wait(30 * time.Second); !ok {
		t.Fatal("no stop on SIGTERM")
	}
	d.restart(t)
	marker := []byte("<marker/>")
	publish(t, d.broker, bus.Message{Topic: "axis.status", Value: marker})
	dlq = consume(t, d.broker, "axis.dlq", 60*time.Second, func(m []bus.Message) bool {
		return bytes.Equal(m[len(m)-1].Value, marker)
	})
	if len(dlq) != 2 {
		t.Errorf("after a restart axis.dlq holds %d messages, want the old one and the marker", len(dlq))
	}
	tok := d.auditorToken(t)
	req, _ := http.NewRequest("GET", d.url("/v1/documents/"+url.PathEscape(s.DocID)), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Recipients []struct {
			OrganID string `json:"organ_id"`
			State   string `json:"state"`
			History []struct{ Kind, Code string }
		} `json:"recipients"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	for _, r := range doc.Recipients {
		if r.OrganID != recipients[0] {
			continue
		}
		n := 0
		for _, h := range r.History {
			if h.Kind == "status" {
				n++
			}
		}
		if r.State != "accepted" || n != 1 {
			t.Errorf("%s: state %s with %d statuses in the history, want accepted with 1", r.OrganID, r.State, n)
		}
	}
}

// A large package (8 MiB; 60 MiB with AXIS_E2E_LONG) goes through HTTP, verification,
// the store and Kafka to every inbox byte for byte.
func TestLargePackage(t *testing.T) {
	size := 8 << 20
	if long() {
		size = 60 << 20
	}
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	raw := make([]byte, size*3/4)
	for i := range raw {
		raw[i] = byte(i*7 + i/251)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteByte('\n')
	}
	b := bytes.Replace(decreeIn, []byte(decreeDocID), []byte("000.00.00.G22,2026/11/22,77777/NĐ-CP"), 1)
	start := bytes.Index(b, []byte("<ContentTransferEncoded>")) + len("<ContentTransferEncoded>")
	end := bytes.Index(b, []byte("</ContentTransferEncoded>"))
	b = append(append(append([]byte{}, b[:start]...), wrapped.String()...), b[end:]...)
	b, err := govSign.SignBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	t0 := time.Now()
	code, body, err := post(d.url(""), b)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("POST %d bytes: %d %v %.300s", len(b), code, err, body)
	}
	accepted := time.Since(t0)
	want := map[string]bool{sha: true}
	seen := inboxes(t, d.broker, want, 120*time.Second)
	checkDelivered(t, seen, want)
	t.Logf("%d MiB package: 202 after %v, on all %d inboxes after %v", len(b)>>20, accepted.Round(time.Millisecond),
		len(recipients), time.Since(t0).Round(time.Millisecond))
}

// SIGHUP reads --trust again, and the daemon goes on serving (SIGHUP's default action
// would have ended it).
func TestSIGHUPReloadsTrust(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	d.proc.signal(syscall.SIGHUP)
	reloaded := func() bool {
		b, err := os.ReadFile(d.proc.log)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "trust store reloaded") && strings.Contains(line, "SIGHUP") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(30 * time.Second); !reloaded(); time.Sleep(20 * time.Millisecond) {
		if d.exited() || time.Now().After(deadline) {
			d.proc.dumpLog()
			t.Fatalf("no reload logged after SIGHUP (exited: %v)", d.exited())
		}
	}
	s := corpus(t, 9500, 1)[0]
	if code, body, err := post(d.url(""), s.Bytes); err != nil || code != http.StatusAccepted {
		t.Fatalf("after SIGHUP: %d %s %v", code, body, err)
	}
	stopDaemon(t, d)
}
