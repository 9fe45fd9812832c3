package agency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"axis/axis/bus"
	"axis/axis/bus/membus"
	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

const (
	sender    = "000.00.00.G22"
	recipient = "000.00.00.H41"
	other     = "000.00.00.G01"
	docID     = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
)

type fixture struct {
	verifier *signing.Verifier
	checker  *verify.Checker // verifier, without a registry
	signers  map[string]*signing.Signer
	decree   []byte // signed by the sender
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// testFixture builds a root and three agency keys once (RSA generation is slow).
func testFixture(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		root, err := devpki.NewRoot(devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "test root"})
		if err != nil {
			fixErr = err
			return
		}
		ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, nil)
		if err != nil {
			fixErr = err
			return
		}
		fix.verifier = signing.NewVerifier(ts, signing.Options{})
		fix.checker = verify.New(fix.verifier, nil, envelope.Limits{})
		fix.signers = map[string]*signing.Signer{}
		for _, id := range []string{sender, recipient, other} {
			c, err := devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: id, CommonName: id})
			if err != nil {
				fixErr = err
				return
			}
			fix.signers[id] = &signing.Signer{Key: c.Key, Cert: c.Cert}
		}
		raw, err := os.ReadFile("../../testdata/demo/decree.edxml")
		if err != nil {
			fixErr = err
			return
		}
		fix.decree, fixErr = fix.signers[sender].SignBytes(raw)
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func delivery(value []byte, typ string) bus.Message {
	return bus.Message{Topic: InboxTopic(recipient), Key: []byte(docID), Value: value, Headers: []bus.Header{
		{Key: HeaderType, Value: []byte(typ)}, {Key: HeaderDocID, Value: []byte(docID)},
		{Key: HeaderFrom, Value: []byte(sender)}, {Key: HeaderSHA256, Value: []byte(hexSHA(value))}}}
}

func newTestInbox(t *testing.T, agency string, pub bus.Publisher) (*Inbox, *[]Event, string) {
	f := testFixture(t)
	dir := t.TempDir()
	var events []Event
	in, err := NewInbox(Config{Agency: agency, Dir: dir, Verifier: f.verifier, Signer: f.signers[agency], Publisher: pub,
		Report: func(e Event) { events = append(events, e) },
		Now:    func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return in, &events, dir
}

func TestInboxWritesAnswersAndDedupes(t *testing.T) {
	f := testFixture(t)
	mb := membus.New(membus.Options{})
	defer mb.Close()
	ctx := context.Background()
	mb.EnsureTopics(ctx, TopicStatus)
	in, events, dir := newTestInbox(t, recipient, mb)

	for i := 0; i < 2; i++ { // the second is an at-least-once redelivery
		if err := in.Handle(ctx, delivery(f.decree, "edoc")); err != nil {
			t.Fatal(err)
		}
	}
	want := filepath.Join(dir, PackageFile(docID, hexSHA(f.decree)))
	if got, _ := os.ReadFile(want); !bytes.Equal(got, f.decree) {
		t.Fatalf("%s does not hold the exact package", want)
	}
	if len(*events) != 2 || (*events)[0].Kind != Arrived || (*events)[1].Kind != Duplicate || (*events)[0].File != want ||
		(*events)[0].From != sender || (*events)[0].DocumentID != docID {
		t.Fatalf("events %+v", *events)
	}
	entries, _ := os.ReadDir(dir)
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(entries) != 3 { // the package, status/ and sent/; no temporary file left
		t.Fatalf("dir holds %v", names)
	}
	// One answer, kept in sent/, signed by the recipient, verifying as a 01 about the
	// document; the redelivery is not answered again.
	answers := mb.Messages(TopicStatus)
	if len(answers) != 1 {
		t.Fatalf("%d answers", len(answers))
	}
	if kept, _ := os.ReadFile(filepath.Join(dir, SentDir, AnswerFile(docID, hexSHA(f.decree)))); !bytes.Equal(kept, answers[0].Value) {
		t.Fatal("the published answer is not the one kept in sent/")
	}
	a := answers[0]
	if string(a.Key) != docID || a.Header(HeaderSHA256) != hexSHA(a.Value) || a.Header(HeaderType) != "status" {
		t.Fatalf("answer headers %+v", a.Headers)
	}
	res, err := f.checker.Check(a.Value)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Status
	if res.From != recipient || s.StatusCode != "01" || s.ResponseFor.DocumentID != docID || s.ResponseFor.OrganID != sender ||
		s.ResponseFor.PromulgationDate != "2026/11/22" || s.ResponseFor.Code != "1234/NĐ-CP" || s.Timestamp != "2026/11/22 17:00:00" {
		t.Fatalf("answer %+v", s)
	}
	if c := in.Counts(); c.Arrived != 1 || c.Duplicates != 1 || c.Refused != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestInboxRefuses(t *testing.T) {
	f := testFixture(t)
	tampered := bytes.Replace(f.decree, []byte("Nghị định quy định"), []byte("Nghị quyết quy định"), 1)
	wrongSigner, _ := f.signers[other].SignBytes(mustRead(t, "../../testdata/demo/decree.edxml"))
	notForMe, _ := f.signers[sender].SignBytes(bytes.ReplaceAll(mustRead(t, "../../testdata/demo/decree.edxml"),
		[]byte("<OrganId>000.00.00.H41</OrganId>"), []byte("<OrganId>000.00.00.H49</OrganId>")))
	badHeader := delivery(f.decree, "edoc")
	badHeader.SetHeader(HeaderSHA256, strings.Repeat("0", 64))
	noHeader := delivery(f.decree, "edoc")
	noHeader.Headers = noHeader.Headers[:3]
	// Bytes that are not what the axis delivered (no axis-sha256, or another) are
	// dropped; everything else, a signature that does not verify here included, is kept
	// in refused/ before it is acknowledged.
	for _, tc := range []struct {
		name string
		m    bus.Message
		code errs.Code
		kept string // name in refused/, "" if not kept
	}{
		{"tampered", delivery(tampered, "edoc"), errs.SignatureInvalid, PackageFile(docID, hexSHA(tampered))},
		{"altered in transit", badHeader, errs.SignatureInvalid, ""},
		{"no sha header", noHeader, errs.BadRequest, ""},
		{"wrong signer", delivery(wrongSigner, "edoc"), errs.SenderMismatch, PackageFile(docID, hexSHA(wrongSigner))},
		{"not addressed to me", delivery(notForMe, "edoc"), errs.InvalidEnvelope, PackageFile(docID, hexSHA(notForMe))},
		{"type header lies", delivery(f.decree, "status"), errs.InvalidEnvelope,
			strings.TrimSuffix(PackageFile(docID, hexSHA(f.decree)), ".edxml") + ".xml"},
		{"not xml", delivery([]byte("hello"), "edoc"), errs.MalformedXML, PackageFile(docID, hexSHA([]byte("hello")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := membus.New(membus.Options{})
			defer mb.Close()
			in, events, dir := newTestInbox(t, recipient, mb)
			if err := in.Handle(context.Background(), tc.m); err != nil {
				t.Fatalf("a refusal must be acknowledged, got %v", err)
			}
			if len(*events) != 1 || (*events)[0].Kind != Refused || errs.CodeOf((*events)[0].Err) != tc.code {
				t.Fatalf("events %+v", *events)
			}
			if n := len(mb.Messages(TopicStatus)); n != 0 {
				t.Fatalf("%d answers published for a refused package", n)
			}
			for _, sub := range []string{StatusDir, SentDir} {
				if e, _ := os.ReadDir(filepath.Join(dir, sub)); len(e) != 0 {
					t.Fatalf("%s holds %d entries", sub, len(e))
				}
			}
			top, _ := os.ReadDir(dir)
			if tc.kept == "" {
				if len(top) != 2 || (*events)[0].File != "" {
					t.Fatalf("not intact, but kept: %v, %q", top, (*events)[0].File)
				}
				return
			}
			if len(top) != 3 {
				t.Fatalf("dir holds %v", top)
			}
			checkRefused(t, dir, tc.kept, tc.m.Value, tc.code)
			if (*events)[0].File != filepath.Join(dir, RefusedDir, tc.kept) {
				t.Fatalf("event file %q", (*events)[0].File)
			}
		})
	}
}

// checkRefused fails unless refused/ holds exactly name (the exact bytes b) and its
// error body with code.
func checkRefused(t *testing.T, dir, name string, b []byte, code errs.Code) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, RefusedDir))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != name+" "+name+ErrorSuffix {
		t.Fatalf("refused/ holds %v, want %s and its %s", names, name, ErrorSuffix)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, RefusedDir, name)); !bytes.Equal(got, b) {
		t.Fatal("refused/ does not hold the exact bytes")
	}
	var body errs.Body
	js, _ := os.ReadFile(filepath.Join(dir, RefusedDir, name+ErrorSuffix))
	if err := json.Unmarshal(js, &body); err != nil || body.Error.Code != string(code) || body.Error.Message == "" {
		t.Fatalf("error body %s (%v), want code %s", js, err, code)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInboxForwardedStatus(t *testing.T) {
	f := testFixture(t)
	mb := membus.New(membus.Options{})
	defer mb.Close()
	in, events, dir := newTestInbox(t, sender, mb)
	st, err := NewStatus(StatusRequest{DocumentID: docID, Code: "05", From: envelope.Organization{OrganID: recipient}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignStatus(st, f.signers[recipient])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := in.Handle(context.Background(), delivery(b, "status")); err != nil {
			t.Fatal(err)
		}
	}
	if len(*events) != 2 || (*events)[0].Kind != Status || (*events)[0].Code != "05" || (*events)[1].Kind != Duplicate {
		t.Fatalf("events %+v", *events)
	}
	got, _ := os.ReadFile((*events)[0].File)
	if !bytes.Equal(got, b) || filepath.Dir((*events)[0].File) != filepath.Join(dir, StatusDir) {
		t.Fatalf("status file %s", (*events)[0].File)
	}
	if n := len(mb.Messages(TopicStatus)); n != 0 {
		t.Fatal("a status must not be answered")
	}
}

// failing publishes nothing: the broker is down.
type failing struct{}

func (failing) Publish(context.Context, ...bus.Message) error {
	return errs.E(errs.Unavailable, "broker down")
}

// A failed answer is an error (the message is redelivered); the redelivery publishes the
// answer signed the first time.
func TestInboxAnswerRetried(t *testing.T) {
	f := testFixture(t)
	in, _, dir := newTestInbox(t, recipient, failing{})
	if err := in.Handle(context.Background(), delivery(f.decree, "edoc")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable, got %v", err)
	}
	sent, _ := os.ReadDir(filepath.Join(dir, SentDir))
	if len(sent) != 1 || !strings.HasPrefix(sent[0].Name(), ".pending-") {
		t.Fatalf("the answer must be kept, pending, before publishing: %v", sent)
	}
	first, _ := os.ReadFile(filepath.Join(dir, SentDir, sent[0].Name()))
	mb := membus.New(membus.Options{})
	defer mb.Close()
	mb.EnsureTopics(context.Background(), TopicStatus)
	in.cfg.Publisher = mb
	if err := in.Handle(context.Background(), delivery(f.decree, "edoc")); err != nil {
		t.Fatal(err)
	}
	if m := mb.Messages(TopicStatus); len(m) != 1 || !bytes.Equal(m[0].Value, first) {
		t.Fatal("the redelivery must publish the answer signed the first time")
	}
	if c := in.Counts(); c.Arrived != 1 || c.Duplicates != 0 {
		t.Fatalf("the first complete delivery is the arrival: %+v", c)
	}
	final, _ := os.ReadFile(filepath.Join(dir, SentDir, strings.TrimPrefix(sent[0].Name(), ".pending-")))
	if !bytes.Equal(final, first) {
		t.Fatal("the published answer must be kept under its final name")
	}
}

func TestNewStatus(t *testing.T) {
	at := time.Date(2026, 1, 2, 20, 30, 0, 0, time.UTC)
	s, err := NewStatus(StatusRequest{DocumentID: docID, Code: "03", From: envelope.Organization{OrganID: recipient}, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if s.Timestamp != "2026/01/03 03:30:00" || s.Description != "accepted" || s.ResponseFor.OrganID != sender {
		t.Fatalf("%+v", s)
	}
	for _, bad := range []StatusRequest{
		{DocumentID: "nope", Code: "03", From: envelope.Organization{OrganID: recipient}},
		{DocumentID: docID, Code: "07", From: envelope.Organization{OrganID: recipient}},
		{DocumentID: docID, Code: "03"},
	} {
		if _, err := NewStatus(bad); !errs.Is(err, errs.InvalidEnvelope) {
			t.Errorf("%+v: want invalid_envelope, got %v", bad, err)
		}
	}
}

func TestCheckBinding(t *testing.T) {
	f := testFixture(t)
	c := f.signers[recipient].Cert
	if AgencyOf(c) != recipient {
		t.Fatalf("AgencyOf = %q", AgencyOf(c))
	}
	if err := CheckBinding(c, recipient, nil); err != nil {
		t.Fatal(err)
	}
	if err := CheckBinding(c, sender, nil); !errs.Is(err, errs.SenderMismatch) {
		t.Fatalf("want sender_mismatch, got %v", err)
	}
	if err := CheckBinding(c, recipient, []string{strings.Repeat("ab", 32)}); !errs.Is(err, errs.SenderMismatch) {
		t.Fatalf("registered fingerprints rule: %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		docID:                       "000.00.00.G22_2026_11_22_1234_NĐ-CP",
		"":                          "_",
		"..":                        "_..",
		"../../etc/passwd":          "_.._.._etc_passwd",
		"a b\x00c\\d:e*f?g\"h<i>j|": "a_b_c_d_e_f_g_h_i_j_",
		"\xff\xfe":                  "__",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
	if n := len(SafeName(strings.Repeat("Đ", 200))); n > maxNameBytes {
		t.Errorf("too long: %d", n)
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{docID, "", ".", "..", "/", "a/b", strings.Repeat("ệ", 100), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SafeName(s)
		if n == "" || n[0] == '.' || len(n) > maxNameBytes || !utf8.ValidString(n) || strings.ContainsAny(n, "/\\\x00") || n == ".." {
			t.Fatalf("SafeName(%q) = %q", s, n)
		}
		if filepath.Base(n) != n {
			t.Fatalf("SafeName(%q) = %q is not one path element", s, n)
		}
	})
}

// positions is a Positions with fixed answers.
type positions []Position

func (p positions) Positions(context.Context, string, string) ([]Position, error) { return p, nil }

func TestConsumeStopsWhenCaughtUp(t *testing.T) {
	f := testFixture(t)
	mb := membus.New(membus.Options{})
	defer mb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topic := InboxTopic(recipient)
	mb.EnsureTopics(ctx, topic, TopicStatus)
	if err := mb.Publish(ctx, delivery(f.decree, "edoc"), delivery([]byte("junk"), "edoc")); err != nil {
		t.Fatal(err)
	}
	in, events, _ := newTestInbox(t, recipient, mb)
	// Nothing pending: returns at once without handling anything.
	err := Consume(ctx, mb, in.Handle, ConsumeOptions{Topic: topic, Group: recipient,
		Positions: positions{{Partition: 0, Start: 0, End: 2, Committed: 2}}})
	if err != nil || len(*events) != 0 {
		t.Fatalf("%v %d", err, len(*events))
	}
	// Two pending: both handled, then Consume returns although the topic stays open.
	err = Consume(ctx, mb, in.Handle, ConsumeOptions{Topic: topic, Group: recipient,
		Positions: positions{{Partition: 0, Start: 0, End: 2, Committed: -1}}})
	if err != nil || ctx.Err() != nil || len(*events) != 2 || (*events)[0].Kind != Arrived || (*events)[1].Kind != Refused {
		t.Fatalf("%v %+v", err, *events)
	}
}

func TestPositionNext(t *testing.T) {
	for _, tc := range []struct {
		p    Position
		want int64
	}{
		{Position{Start: 0, End: 5, Committed: -1}, 0},
		{Position{Start: 3, End: 5, Committed: -1}, 3},
		{Position{Start: 3, End: 5, Committed: 1}, 3}, // committed offset deleted by retention
		{Position{Start: 0, End: 5, Committed: 4}, 4},
	} {
		if got := tc.p.Next(); got != tc.want {
			t.Errorf("%v: Next = %d, want %d", tc.p, got, tc.want)
		}
	}
}

// The 01 answer names the agency as the registry does when it is written: a reload
// (registry.Replace, on SIGHUP) that renames it shows in the next answer.
func TestAnswerNamesAgencyAsRegistryNow(t *testing.T) {
	f := testFixture(t)
	mb := membus.New(membus.Options{})
	defer mb.Close()
	ctx := context.Background()
	mb.EnsureTopics(ctx, TopicStatus)
	parse := func(name string) *registry.Registry {
		r, err := registry.Parse([]byte(`{"agencies":[{"id":"` + sender + `","name":"Văn phòng Chính phủ"},{"id":"000.00.00.G01","name":"Bộ Công an"},{"id":"000.00.00.H53","name":"UBND tỉnh Tây Ninh"},{"id":"` + recipient + `","name":"` + name + `"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	reg := parse("UBND tỉnh Nghệ An")
	in, err := NewInbox(Config{Agency: recipient, Dir: t.TempDir(), Verifier: f.verifier, Registry: reg, Signer: f.signers[recipient],
		Organ: envelope.Organization{OrganID: recipient, OrganName: "UBND tỉnh Nghệ An"}, Publisher: mb})
	if err != nil {
		t.Fatal(err)
	}
	reg.Replace(parse("Ủy ban nhân dân tỉnh Nghệ An"))
	if err := in.Handle(ctx, delivery(f.decree, "edoc")); err != nil {
		t.Fatal(err)
	}
	answers := mb.Messages(TopicStatus)
	if len(answers) != 1 {
		t.Fatalf("%d answers", len(answers))
	}
	res, err := f.checker.Check(answers[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Status.From.OrganName; got != "Ủy ban nhân dân tỉnh Nghệ An" {
		t.Fatalf("the answer names the agency %q, want the registry's name after the reload", got)
	}
}
