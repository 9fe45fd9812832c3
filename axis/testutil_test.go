package axis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"axis/axis/bus"
	"axis/axis/bus/membus"
	"axis/axis/registry"
	"axis/axis/token"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
)

// Agencies of testdata/demo/decree.edxml: G22 sends to G01, H41 and H53.
const (
	govOffice = "000.00.00.G22"
	police    = "000.00.00.G01"
	ngheAn    = "000.00.00.H41"
	tayNinh   = "000.00.00.H53"
	finance   = "000.00.00.G12" // in the registry, not a party to the decree
)

var decreeTo = []string{police, ngheAn, tayNinh}

const (
	registryFile = "../testdata/agencies.json"
	decreeFile   = "../testdata/demo/decree.edxml"
	decreeDocID  = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
)

// pki is one development PKI per test binary (ECDSA: key generation is quick).
var pki struct {
	once sync.Once
	dir  string
	err  error
	mu   sync.Mutex
	sign map[string]*signing.Signer
}

func testPKI(t testing.TB) string {
	t.Helper()
	pki.once.Do(func() {
		pki.dir, pki.err = os.MkdirTemp("", "axis-pki-")
		if pki.err != nil {
			return
		}
		reg, err := registry.Load(registryFile)
		if err != nil {
			pki.err = err
			return
		}
		pki.err = devpki.Init(pki.dir, reg.IDs(), devpki.Options{KeyType: devpki.ECDSA})
		pki.sign = map[string]*signing.Signer{}
	})
	if pki.err != nil {
		t.Fatalf("dev PKI: %v", pki.err)
	}
	return pki.dir
}

// signer returns the signer of an agency of the dev PKI.
func signer(t testing.TB, organID string) *signing.Signer {
	t.Helper()
	dir := testPKI(t)
	pki.mu.Lock()
	defer pki.mu.Unlock()
	if s := pki.sign[organID]; s != nil {
		return s
	}
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(dir, organID))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(dir, organID))
	if err != nil {
		t.Fatal(err)
	}
	s := &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	pki.sign[organID] = s
	return s
}

func signAs(t testing.TB, organID string, b []byte) []byte {
	t.Helper()
	out, err := signer(t, organID).SignBytes(b)
	if err != nil {
		t.Fatalf("signing as %s: %v", organID, err)
	}
	return out
}

// decree returns the demo decree with DocumentId number n (unsigned) and its DocumentId.
func decree(t testing.TB, n int) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(decreeFile)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("000.00.00.G22,2026/11/22,%d/NĐ-CP", n)
	b = bytes.Replace(b, []byte(decreeDocID), []byte(id), 1)
	b = bytes.Replace(b, []byte("<CodeNumber>1234</CodeNumber>"), []byte(fmt.Sprintf("<CodeNumber>%d</CodeNumber>", n)), 1)
	if !bytes.Contains(b, []byte(id)) {
		t.Fatal("decree.edxml no longer holds the demo DocumentId")
	}
	return b, id
}

// pkg returns decree n signed by the Government Office.
func pkg(t testing.TB, n int) ([]byte, string) {
	t.Helper()
	b, id := decree(t, n)
	return signAs(t, govOffice, b), id
}

// revision returns decree n as a BussinessDocType businessType revision of target.
func revision(t testing.TB, n int, businessType, target string) ([]byte, string) {
	t.Helper()
	b, id := decree(t, n)
	bu := "<Bussiness><BussinessDocType>" + businessType + "</BussinessDocType><BussinessDocReason>sửa đổi</BussinessDocReason><DocumentId>" +
		target + "</DocumentId></Bussiness>\n      </TraceHeaderList>"
	b = bytes.Replace(b, []byte("</TraceHeaderList>"), []byte(bu), 1)
	return signAs(t, govOffice, b), id
}

// status returns a status message about docID signed by from.
func status(t testing.TB, from, docID, code, description string) []byte {
	t.Helper()
	s := envelope.Status{
		ResponseFor: envelope.ResponseFor{OrganID: govOffice, DocumentID: docID},
		From:        envelope.Organization{OrganID: from, OrganName: from},
		StatusCode:  code, Description: description,
		Timestamp: time.Now().UTC().Format("2006/01/02 15:04:05"),
	}
	b, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return signAs(t, from, b)
}

// checker verifies documents against the dev root, like `axis verify`.
func checker(t testing.TB) *verify.Checker {
	t.Helper()
	ts, err := signing.LoadTrust(devpki.RootCertPath(testPKI(t)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(registryFile)
	if err != nil {
		t.Fatal(err)
	}
	return verify.New(signing.NewVerifier(ts, signing.Options{}), reg, envelope.Limits{})
}

// harness is one in-process daemon on a membus.
type harness struct {
	t       testing.TB
	d       *Daemon
	bus     *membus.Bus
	dir     string
	url     string
	cfg     Config
	stop    context.CancelFunc
	done    chan error
	stopped bool
}

type harnessOpt func(*Config, *Options)

func withMaxBytes(n int64) harnessOpt { return func(c *Config, _ *Options) { c.MaxPackageBytes = n } }
func withStoreHooks(f func(*store.Options)) harnessOpt {
	return func(_ *Config, o *Options) { o.StoreHooks = f }
}
func withTrust(path, registry string) harnessOpt {
	return func(c *Config, _ *Options) { c.TrustPath, c.RegistryFile = path, registry }
}

// startDaemon runs a daemon on a new membus and data directory.
func startDaemon(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	return startOn(t, membus.New(membus.Options{}), t.TempDir(), opts...)
}

// startOn runs a daemon on the given bus and data directory (a restart reuses both).
func startOn(t testing.TB, b *membus.Bus, dir string, opts ...harnessOpt) *harness {
	t.Helper()
	p := testPKI(t)
	cfg := Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", RegistryFile: registryFile, TrustPath: devpki.RootCertPath(p),
		IdentityKey: devpki.AxisKeyPath(p), IdentityCert: devpki.AxisCertPath(p), ShutdownGrace: 10 * time.Second,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	}
	o := Options{Bus: b}
	for _, f := range opts {
		f(&cfg, &o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, d: d, bus: b, dir: dir, url: "http://" + d.Addr(), cfg: cfg, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() { h.shutdown() })
	return h
}

// shutdown stops the daemon and waits for Run to return.
func (h *harness) shutdown() error {
	if h.stopped {
		return nil
	}
	h.stopped = true
	h.stop()
	select {
	case err := <-h.done:
		return err
	case <-time.After(30 * time.Second):
		h.t.Errorf("daemon did not stop within 30 s")
		return nil
	}
}

// token issues a bearer token from the daemon's data directory.
func (h *harness) token(c token.Claims) string {
	h.t.Helper()
	k, err := token.LoadOrCreate(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	if c.Expires == 0 {
		c.Expires = time.Now().Add(time.Hour).Unix()
	}
	tok, err := k.Issue(c)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) agencyToken(id string) string { return h.token(token.Claims{Agency: id}) }
func (h *harness) auditorToken() string         { return h.token(token.Claims{Auditor: true}) }

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.Status, err, r.Body)
	}
}

// errCode returns the code of a SPEC §6 error body ("" if the body is not one).
func (r response) errCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(r.Body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func (h *harness) do(method, path, tok string, body []byte) response {
	h.t.Helper()
	return doHTTP(h.t, method, h.url+path, tok, body)
}

func doHTTP(t testing.TB, method, u, tok string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (h *harness) postPackage(b []byte) response { return h.do("POST", "/v1/packages", "", b) }
func (h *harness) postStatus(b []byte) response  { return h.do("POST", "/v1/status", "", b) }

// mustAccept submits a package and requires 202.
func (h *harness) mustAccept(b []byte) PackageAnswer {
	h.t.Helper()
	r := h.postPackage(b)
	if r.Status != http.StatusAccepted {
		h.t.Fatalf("POST /v1/packages: %d %s", r.Status, r.Body)
	}
	var a PackageAnswer
	r.json(h.t, &a)
	return a
}

func (h *harness) mustStatus(b []byte) StatusAnswer {
	h.t.Helper()
	r := h.postStatus(b)
	if r.Status != http.StatusAccepted {
		h.t.Fatalf("POST /v1/status: %d %s", r.Status, r.Body)
	}
	var a StatusAnswer
	r.json(h.t, &a)
	return a
}

// document reads GET /v1/documents/{id} as an auditor.
func (h *harness) document(id string) store.Document {
	h.t.Helper()
	r := h.do("GET", "/v1/documents/"+url.PathEscape(id), h.auditorToken(), nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("GET document %s: %d %s", id, r.Status, r.Body)
	}
	var d store.Document
	r.json(h.t, &d)
	return d
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inbox returns the messages on an agency's inbox topic.
func (h *harness) inbox(organID string) []bus.Message { return h.bus.Messages(InboxTopic(organID)) }

// waitInbox waits until an agency's inbox holds n messages and returns them.
func (h *harness) waitInbox(organID string, n int) []bus.Message {
	h.t.Helper()
	eventually(h.t, 10*time.Second, fmt.Sprintf("%d messages on %s", n, InboxTopic(organID)), func() bool {
		return len(h.inbox(organID)) >= n
	})
	return h.inbox(organID)
}

// only keeps the messages whose header key has value v.
func only(msgs []bus.Message, key, v string) []bus.Message {
	var out []bus.Message
	for _, m := range msgs {
		if m.Header(key) == v {
			out = append(out, m)
		}
	}
	return out
}

// stateOf returns a recipient's current state in a document view.
func stateOf(d store.Document, organID string) store.State {
	for _, r := range d.Recipients {
		if r.OrganID == organID {
			return r.State
		}
	}
	return ""
}

func deliveryOf(t testing.TB, d store.Document, organID string) store.Delivery {
	t.Helper()
	for _, r := range d.Recipients {
		if r.OrganID == organID {
			return r
		}
	}
	t.Fatalf("%s is not a recipient of %s", organID, d.DocumentID)
	return store.Delivery{}
}

func statusCodes(del store.Delivery) string {
	var codes []string
	for _, e := range del.History {
		if e.Kind == "status" {
			codes = append(codes, e.Code)
		}
	}
	return strings.Join(codes, ",")
}
