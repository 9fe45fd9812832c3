package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis"
	"axis/signing/devpki"
	"axis/store"
)

// Store write failures injected through the store's fault hook (Options.FailWrites), in
// an in-process daemon on a real broker process, under concurrent submissions of
// packages and statuses: first a window where every commit fails, then one where every
// third commit fails. Each failed submission gets 503 `unavailable` and leaves nothing
// behind (no document, no audit event, nothing on an inbox); resubmitted once the
// faults stop, it gets 202 (not 200: nothing of it was there).
func TestFaultStoreWrites(t *testing.T) {
	nA, nB, nC := sized(1000, 100), sized(500, 60), sized(1500, 140) // packages per phase
	nStatus := sized(300, 60)                                        // statuses in each fault phase
	const workers = 16
	dir := t.TempDir()
	brokerAddr := freePort(t)
	startBroker(t, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))

	var mode atomic.Int32 // 0 healthy, 1 every commit fails, 2 every third fails
	var commits, injected atomic.Int64
	logCfg := zap.NewProductionConfig()
	logCfg.OutputPaths = []string{filepath.Join(dir, "serve.log")}
	logCfg.ErrorOutputPaths = logCfg.OutputPaths
	logger, err := logCfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	httpAddr := freePort(t)
	cfg := axis.Config{DataDir: dataDir, HTTPAddr: httpAddr, Brokers: []string{brokerAddr}, RegistryFile: regFile,
		TrustPath: devpki.RootCertPath(pkiDir), IdentityKey: devpki.AxisKeyPath(pkiDir), IdentityCert: devpki.AxisCertPath(pkiDir),
		Logger: logger}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dmn, err := axis.New(ctx, cfg, axis.Options{StoreHooks: func(o *store.Options) {
		o.FailWrites = func() error {
			c := commits.Add(1)
			switch m := mode.Load(); {
			case m == 1, m == 2 && c%3 == 0:
				injected.Add(1)
				return errors.New("injected: disk full")
			}
			return nil
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- dmn.Run(ctx) }()
	// The same daemon as a process, for the end check's reopening.
	d := &daemon{dir: dataDir, http: httpAddr, broker: brokerAddr, args: []string{"serve", "--data-dir", dataDir, "--http", httpAddr,
		"--registry", regFile, "--trust", devpki.RootCertPath(pkiDir), "--identity-key", devpki.AxisKeyPath(pkiDir),
		"--identity-cert", devpki.AxisCertPath(pkiDir), "--brokers", brokerAddr}}
	waitReadyz(t, d.url("/readyz"))
	base := d.url("")
	tok := d.auditorToken(t)

	subs := corpus(t, 300000, nA+nB+nC)
	bySHA := map[string]submission{}
	for _, s := range subs {
		bySHA[s.SHA] = s
	}
	var mu sync.Mutex
	want, statuses := map[string]bool{}, map[string]bool{}
	failedPkg, failedStatus := map[string]bool{}, map[string][]byte{}
	codes := map[string]int{}
	submitPkg := func(s submission) {
		code, body, err := post(base, s.Bytes)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("%s: %v", s.DocID, err)
		case code == http.StatusAccepted:
			want[s.SHA] = true
		case code == http.StatusServiceUnavailable && errorCode(body) == "unavailable":
			failedPkg[s.SHA] = true
		default:
			t.Errorf("%s: HTTP %d %s", s.DocID, code, body)
		}
		codes[fmt.Sprintf("package %d", code)]++
	}
	submitStatus := func(b []byte) {
		code, body, err := postStatus(base, b)
		sha := sha256hex(b)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("status: %v", err)
		case code == http.StatusAccepted:
			statuses[sha] = true
		case code == http.StatusServiceUnavailable && errorCode(body) == "unavailable":
			failedStatus[sha] = b
		default:
			t.Errorf("status: HTTP %d %s", code, body)
		}
		codes[fmt.Sprintf("status %d", code)]++
	}

	// Phase A, healthy: packages that statuses will be about.
	drive(nA, workers, 0, func(i int) { submitPkg(subs[i]) })
	if len(want) != nA {
		t.Fatalf("healthy phase: %d of %d accepted", len(want), nA)
	}
	// Statuses from the recipients about phase A documents, signed up front (each one
	// distinct: one per document and recipient).
	stat := make([][]byte, 2*nStatus)
	for i := range stat {
		stat[i] = signedStatus(t, recipients[i%len(recipients)], subs[i%nA].DocID, "01")
	}
	// A phase submits its packages and statuses at once, statuses spread among packages.
	phase := func(m int32, pk []submission, st [][]byte) {
		mode.Store(m)
		var tasks []func()
		for i, s := range pk {
			tasks = append(tasks, func() { submitPkg(s) })
			if j := i * len(st) / len(pk); (i+1)*len(st)/len(pk) > j {
				b := st[j]
				tasks = append(tasks, func() { submitStatus(b) })
			}
		}
		drive(len(tasks), workers, 0, func(i int) { tasks[i]() })
	}
	// Phase B: every commit fails. Every answer is 503 unavailable.
	i0 := injected.Load()
	phase(1, subs[nA:nA+nB], stat[:nStatus])
	if len(want) != nA || len(statuses) != 0 {
		t.Errorf("every commit failing: %d packages and %d statuses accepted all the same", len(want)-nA, len(statuses))
	}
	if code, _ := getJSON(t, d.url("/readyz"), ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while every commit fails: %d, want 503", code)
	}
	iB := injected.Load() - i0
	// Phase C: every third commit fails.
	phase(2, subs[nA+nB:], stat[nStatus:])
	mode.Store(0)
	iC := injected.Load() - i0 - iB
	t.Logf("answers %v; %d commits failed in the every-commit window, %d in the every-third window, %d commits in all",
		codes, iB, iC, commits.Load())
	if len(failedPkg) < nB || len(failedStatus) < nStatus {
		t.Fatalf("only %d packages and %d statuses failed", len(failedPkg), len(failedStatus))
	}
	if len(want)+len(failedPkg) != len(subs) {
		t.Fatalf("%d accepted + %d failed != %d submitted", len(want), len(failedPkg), len(subs))
	}

	// Nothing of a failed submission was written: no document, no audit event, nothing
	// on an inbox (read until every accepted package is there).
	for sha := range failedPkg {
		s := bySHA[sha]
		if code, body := getJSON(t, d.url("/v1/documents/"+url.PathEscape(s.DocID)), tok); code != http.StatusNotFound {
			t.Errorf("%s answered 503, yet GET says %d %.200s", s.DocID, code, body)
		}
	}
	for _, e := range auditOverHTTP(t, d, tok) {
		if failedPkg[e.SHA256] || failedStatus[e.SHA256] != nil {
			t.Errorf("audit event %d (%s) for a submission answered 503", e.Seq, e.Type)
		}
	}
	seen := inboxes(t, brokerAddr, want, 3*time.Minute)
	checkDelivered(t, seen, want)
	for topic, got := range seen {
		for sha := range got {
			if failedPkg[sha] {
				t.Errorf("%s holds %s, answered 503", topic, sha[:12])
			}
		}
	}

	// Resubmitted after the faults: 202 each (200 would mean it had been written).
	resub := map[int]int{}
	for sha := range failedPkg {
		code, body, err := post(base, bySHA[sha].Bytes)
		resub[code]++
		if err != nil || code != http.StatusAccepted {
			t.Errorf("%s resubmitted: %d %v %s", bySHA[sha].DocID, code, err, body)
			continue
		}
		want[sha] = true
	}
	for sha, b := range failedStatus {
		code, body, err := postStatus(base, b)
		resub[code]++
		if err != nil || code != http.StatusAccepted {
			t.Errorf("status resubmitted: %d %v %s", code, err, body)
			continue
		}
		statuses[sha] = true
	}
	t.Logf("%d packages and %d statuses answered 503 left nothing behind; resubmitted: %v", len(failedPkg), len(failedStatus), resub)

	endCheck(t, ending{d: d, brokers: brokerAddr, want: want, statuses: statuses, tmp: dir,
		docs: []string{subs[0].DocID, subs[nA].DocID, subs[len(subs)-1].DocID},
		stop: func() {
			cancel()
			select {
			case err := <-runDone:
				if err != nil {
					t.Errorf("daemon Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("in-process daemon did not stop")
			}
		}})
}

// postStatus submits a status; it returns the HTTP status, or 0 with the error.
func postStatus(base string, b []byte) (int, []byte, error) {
	resp, err := client.Post(base+"/v1/status", "application/xml", strings.NewReader(string(b)))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&sb)
	return resp.StatusCode, []byte(sb.String()), err
}

// auditOverHTTP reads the whole audit log with GET /v1/audit.
func auditOverHTTP(t *testing.T, d *daemon, tok string) []auditEvent {
	t.Helper()
	var out []auditEvent
	from := uint64(1)
	for {
		code, body := getJSON(t, d.url(fmt.Sprintf("/v1/audit?from=%d&limit=10000", from)), tok)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/audit: %d %s", code, body)
		}
		evs := parseAudit(t, string(body))
		out = append(out, evs...)
		if len(evs) < 10000 {
			return out
		}
		from = evs[len(evs)-1].Seq + 1
	}
}
