package dropdir_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis"
	"axis/axis/bus/membus"
	"axis/axis/dropdir"
	"axis/axis/errs"
	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
)

const (
	sender       = "000.00.00.G22"
	registryFile = "../../testdata/agencies.json"
	decreeFile   = "../../testdata/demo/decree.edxml"
)

// newPKI issues the development PKI (root, axis identity, the sender) into dir.
func newPKI(t testing.TB, dir string) {
	t.Helper()
	if err := devpki.Init(dir, []string{sender}, devpki.Options{}); err != nil {
		t.Fatal(err)
	}
}

// corpus signs n distinct variants of the demo decree (DocumentId number 1000+i).
func corpus(t testing.TB, pkiDir string, n int) [][]byte {
	t.Helper()
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(pkiDir, sender))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(pkiDir, sender))
	if err != nil {
		t.Fatal(err)
	}
	s := &signing.Signer{Key: key, Cert: certs[0]}
	tmpl, err := os.ReadFile(decreeFile)
	if err != nil {
		t.Fatal(err)
	}
	const id, num = "<DocumentId>000.00.00.G22,2026/11/22,1234/NĐ-CP</DocumentId>", "<CodeNumber>1234</CodeNumber>"
	if !bytes.Contains(tmpl, []byte(id)) || !bytes.Contains(tmpl, []byte(num)) {
		t.Fatal("the demo decree changed: update the corpus template")
	}
	out := make([][]byte, n)
	for i := range out {
		v := bytes.Replace(tmpl, []byte(id), fmt.Appendf(nil, "<DocumentId>000.00.00.G22,2026/11/22,%d/NĐ-CP</DocumentId>", 1000+i), 1)
		v = bytes.Replace(v, []byte(num), fmt.Appendf(nil, "<CodeNumber>%d</CodeNumber>", 1000+i), 1)
		if out[i], err = s.SignBytes(v); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func docID(i int) string { return fmt.Sprintf("000.00.00.G22,2026/11/22,%d/NĐ-CP", 1000+i) }

// tamper changes one character of the signed content: the signature no longer verifies.
func tamper(t testing.TB, b []byte) []byte {
	t.Helper()
	const from, to = "Nghị định quy định", "Nghị định QUY định"
	if !bytes.Contains(b, []byte(from)) {
		t.Fatal("tamper: subject not found")
	}
	return bytes.Replace(b, []byte(from), []byte(to), 1)
}

// newDaemon builds the real daemon (store-backed intake) on an in-memory bus.
func newDaemon(ctx context.Context, t testing.TB, dataDir, pkiDir string, log *zap.Logger) *axis.Daemon {
	t.Helper()
	d, err := axis.New(ctx, axis.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", RegistryFile: registryFile,
		TrustPath: devpki.RootCertPath(pkiDir), IdentityKey: devpki.AxisKeyPath(pkiDir),
		IdentityCert: devpki.AxisCertPath(pkiDir), Logger: log},
		axis.Options{Bus: membus.New(membus.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// submitter is how the daemon plugs its intake into the drop directory.
func submitter(d *axis.Daemon) dropdir.SubmitFunc {
	return func(ctx context.Context, b []byte) (dropdir.Answer, error) {
		a, err := d.Intake().SubmitPackage(ctx, b, axis.SourceDrop)
		return dropdir.Answer{DocumentID: a.DocumentID, SHA256: a.SHA256, AuditSeq: a.AuditSeq, Existing: a.Existing}, err
	}
}

type auditEvent struct {
	Seq        uint64 `json:"seq"`
	Type       string `json:"type"`
	DocumentID string `json:"document_id"`
	Code       string `json:"code"`
}

// exportAudit reads the audit log through the store API (the daemon must be stopped).
func exportAudit(t testing.TB, dataDir string) []auditEvent {
	t.Helper()
	s, err := store.Open(dataDir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.ExportAudit(context.Background(), &buf, 1); err != nil {
		t.Fatal(err)
	}
	var out []auditEvent
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Event auditEvent `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, line.Event)
	}
	return out
}

func countType(evs []auditEvent, typ string) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		if e.Type == typ {
			m[e.DocumentID]++
		}
	}
	return m
}

func writeAndRename(t testing.TB, staging, incoming, name string, b []byte) {
	t.Helper()
	p := filepath.Join(staging, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, filepath.Join(incoming, name)); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func present(p string) bool { _, err := os.Lstat(p); return err == nil }

// The drop directory in front of the real intake: accepted, accepted again (identical
// bytes under another name: the first answer, one audit acceptance), refused with the
// HTTP error body.
func TestRealIntake(t *testing.T) {
	root := t.TempDir()
	pki, data, drop, staging := filepath.Join(root, "pki"), filepath.Join(root, "data"), filepath.Join(root, "drop"), filepath.Join(root, "staging")
	newPKI(t, pki)
	if err := os.MkdirAll(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	pkgs := corpus(t, pki, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDaemon(ctx, t, data, pki, zap.NewNop())
	daemonCtx, stopDaemon := context.WithCancel(context.Background())
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- d.Run(daemonCtx) }()
	dd, err := dropdir.Open(dropdir.Config{Dir: drop, Submit: submitter(d), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	dropDone := make(chan error, 1)
	go func() { dropDone <- dd.Run(ctx) }()

	in := filepath.Join(drop, dropdir.Incoming)
	writeAndRename(t, staging, in, "one.edxml", pkgs[0])
	waitUntil(t, "one accepted", 20*time.Second, func() bool { return present(filepath.Join(drop, dropdir.Accepted, "one.edxml")) })
	writeAndRename(t, staging, in, "one-again.edxml", pkgs[0])
	writeAndRename(t, staging, in, "forged.edxml", tamper(t, pkgs[1]))
	waitUntil(t, "all moved", 20*time.Second, func() bool {
		return present(filepath.Join(drop, dropdir.Accepted, "one-again.edxml")) &&
			present(filepath.Join(drop, dropdir.Rejected, "forged.edxml"+dropdir.ErrorSuffix))
	})
	cancel()
	if err := <-dropDone; err != nil {
		t.Fatal(err)
	}
	stopDaemon()
	if err := <-daemonDone; err != nil {
		t.Fatal(err)
	}

	body, err := os.ReadFile(filepath.Join(drop, dropdir.Rejected, "forged.edxml"+dropdir.ErrorSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var eb errs.Body
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error.json %q: %v", body, err)
	}
	if eb.Error.Code != string(errs.SignatureInvalid) || eb.Error.Message == "" {
		t.Fatalf("error.json = %s", body)
	}
	evs := exportAudit(t, data)
	if acc := countType(evs, "accepted"); len(acc) != 1 || acc[docID(0)] != 1 {
		t.Fatalf("accepted events %v, want one for %s", acc, docID(0))
	}
	rej := 0
	for _, e := range evs {
		if e.Type == "rejected" && e.Code == string(errs.SignatureInvalid) {
			rej++
		}
	}
	if rej != 1 {
		t.Fatalf("%d rejected events, want 1", rej)
	}
	if got := listDir(t, in); len(got) != 0 {
		t.Fatalf("incoming/ still holds %v", got)
	}
}

// BenchmarkRealIntake measures signed packages through the drop directory into the real
// intake (verification, durable store commit, moves and fsyncs).
func BenchmarkRealIntake(b *testing.B) {
	for _, w := range []int{2, 4} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchRealIntake(b, w) })
	}
}

func benchRealIntake(b *testing.B, workers int) {
	root := b.TempDir()
	pki, data, drop, staging := filepath.Join(root, "pki"), filepath.Join(root, "data"), filepath.Join(root, "drop"), filepath.Join(root, "staging")
	newPKI(b, pki)
	if err := os.MkdirAll(staging, 0o755); err != nil {
		b.Fatal(err)
	}
	pkgs := corpus(b, pki, b.N)
	ctx, cancel := context.WithCancel(context.Background())
	d := newDaemon(ctx, b, data, pki, zap.NewNop())
	daemonCtx, stopDaemon := context.WithCancel(context.Background())
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- d.Run(daemonCtx) }()
	dd, err := dropdir.Open(dropdir.Config{Dir: drop, Submit: submitter(d), Workers: workers, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	dropDone := make(chan error, 1)
	go func() { dropDone <- dd.Run(ctx) }()
	defer func() { cancel(); <-dropDone; stopDaemon(); <-daemonDone }()
	in, acc := filepath.Join(drop, dropdir.Incoming), filepath.Join(drop, dropdir.Accepted)
	b.ResetTimer()
	for i, p := range pkgs {
		writeAndRename(b, staging, in, fmt.Sprintf("p%08d.edxml", i), p)
	}
	waitUntil(b, "all accepted", 10*time.Minute, func() bool {
		l, _ := os.ReadDir(acc)
		return len(l) == b.N
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}
