package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/store/audit"
	"axis/store/audit/audittest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.jsonl")

var t0 = time.Date(2026, 3, 12, 8, 30, 0, 123456000, time.UTC)

// goldenEvents exercises every type and every escaping rule of the pinned encoding.
func goldenEvents(t testing.TB) [][]byte {
	t.Helper()
	evs := []audit.Event{
		{Time: t0, Type: audit.Accepted, DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", From: "000.00.00.G22",
			To: "000.00.00.G01,000.00.00.H53", SHA256: strings.Repeat("ab", 32)},
		{Time: t0.Add(time.Millisecond), Type: audit.Published, DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
			From: "000.00.00.G22", To: "000.00.00.G01", SHA256: strings.Repeat("ab", 32)},
		{Time: t0.Add(2 * time.Second), Type: audit.Rejected, SHA256: strings.Repeat("cd", 32), Code: "malformed_xml",
			Detail: "quote \" backslash \\ <tag> & amp\nnewline\ttab\r\x01\x1f\u2028 bad:\xff end"},
		{Time: t0.Add(3 * time.Second), Type: audit.Status, DocumentID: "d1", From: "000.00.00.G01", To: "000.00.00.G22", Code: "01"},
		{Time: t0.Add(4 * time.Second), Type: audit.Forwarded, DocumentID: "d1", From: "000.00.00.G01", To: "000.00.00.G22", Code: "01"},
		{Time: t0.Add(5 * time.Second), Type: audit.Status, DocumentID: "d1", From: "000.00.00.G22", To: "000.00.00.G01", Code: "13"},
		{Time: t0.Add(5 * time.Second), Type: audit.Recall, DocumentID: "d1", From: "000.00.00.G22", To: "000.00.00.G01", Code: "13"},
		{Time: time.Date(2026, 3, 12, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600)), Type: audit.Replay, Detail: "from 1"},
	}
	var c audit.Chain
	var lines [][]byte
	for i := range evs {
		lines = append(lines, c.Next(&evs[i]))
	}
	cp, err := audit.NewCheckpoint(c.Seq, c.Hash, t0.Add(time.Hour), audittest.NewSigner(7))
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, c.Next(&cp))
	return lines
}

func TestGolden(t *testing.T) {
	var got bytes.Buffer
	for _, l := range goldenEvents(t) {
		got.Write(l)
		got.WriteByte('\n')
	}
	path := filepath.Join("testdata", "golden.jsonl")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("encoding changed; golden:\n%s\ngot:\n%s", want, got.Bytes())
	}
	independentCheck(t, want)
	r, err := audit.Verify(context.Background(), bytes.NewReader(want), audit.VerifyOptions{
		Checkpoints: audit.VerifierFunc(audittest.NewSigner(7).Verifier())})
	if err != nil || r.Break != nil {
		t.Fatalf("golden does not verify: %v %v", err, r.Break)
	}
	if r.LastSeq != 9 || r.Checkpoints != 1 || r.Unattested() != 0 {
		t.Fatalf("report %+v", r)
	}
}

// independentCheck recomputes the chain with encoding/json and crypto/sha256 only, the way
// an auditor's few-line script would: hash = sha256(prev + "\n" + raw event bytes).
func independentCheck(t *testing.T, log []byte) {
	prev := strings.Repeat("0", 64)
	for i, line := range strings.Split(strings.TrimSuffix(string(log), "\n"), "\n") {
		var l struct {
			Event json.RawMessage `json:"event"`
			Hash  string          `json:"hash"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		var ev struct {
			Seq  int    `json:"seq"`
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(l.Event, &ev); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(ev.Prev + "\n" + string(l.Event)))
		if ev.Seq != i+1 || ev.Prev != prev || hex.EncodeToString(sum[:]) != l.Hash {
			t.Fatalf("line %d: independent check failed", i+1)
		}
		prev = l.Hash
	}
}

func TestEncodingPinned(t *testing.T) {
	e := audit.Event{Seq: 1, Time: t0, Type: audit.Rejected, Detail: "<&>\"\\\n\x00\u2028é\xff", Prev: audit.ZeroHash}
	line, _ := audit.Line(&e)
	want := `{"event":{"seq":1,"time":"2026-03-12T08:30:00.123456Z","type":"rejected","document_id":"","from":"","to":"","sha256":"","code":"","detail":"<&>\"\\\n\u0000` + "\u2028é\uFFFD" + `","prev":"` + audit.ZeroHash + `"},"hash":"`
	if !strings.HasPrefix(string(line), want) {
		t.Fatalf("got  %s\nwant %s", line, want)
	}
	if !json.Valid(line) {
		t.Fatal("not valid JSON")
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, l := range goldenEvents(t) {
		r, err := audit.ParseLine(l)
		if err != nil {
			t.Fatal(err)
		}
		again, h := audit.Line(&r.Event)
		if !bytes.Equal(again, l) || h != r.Hash {
			t.Fatalf("round trip:\n%s\n%s", l, again)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := string(goldenEvents(t)[0])
	cases := map[string]string{
		"empty":         "",
		"space":         strings.Replace(good, `"seq":1`, `"seq": 1`, 1),
		"leading zero":  strings.Replace(good, `"seq":1`, `"seq":01`, 1),
		"member order":  strings.Replace(good, `"type":"accepted","document_id"`, `"document_id":"x","type"`, 1),
		"missing":       strings.Replace(good, `"code":"",`, ``, 1),
		"not utc":       strings.Replace(good, `.123456Z`, `.123456+07:00`, 1),
		"bad type":      strings.Replace(good, `"accepted"`, `"acceptedx"`, 1),
		"upper hash":    good[:len(good)-10] + "ABCDEFAB\"}",
		"trailing":      good + " ",
		"extra member":  strings.Replace(good, `,"prev"`, `,"x":"","prev"`, 1),
		"control char":  strings.Replace(good, `"code":""`, "\"code\":\"\x01\"", 1),
		"bad escape":    strings.Replace(good, `"code":""`, `"code":"\x"`, 1),
		"invalid utf8":  strings.Replace(good, `"code":""`, "\"code\":\"\xff\"", 1),
		"number string": strings.Replace(good, `"seq":1`, `"seq":"1"`, 1),
	}
	for name, l := range cases {
		if _, err := audit.ParseLine([]byte(l)); !errors.Is(err, audit.ErrSyntax) {
			t.Errorf("%s: want syntax error, got %v", name, err)
		}
	}
}

func TestVerifyBreaks(t *testing.T) {
	lines := goldenEvents(t)
	join := func(ls [][]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }
	clone := func() [][]byte {
		out := make([][]byte, len(lines))
		for i := range lines {
			out[i] = append([]byte{}, lines[i]...)
		}
		return out
	}
	edited := clone()
	edited[3] = bytes.Replace(edited[3], []byte(`"code":"01"`), []byte(`"code":"06"`), 1)
	rehashed := clone() // edit seq 4 and fix its hash: seq 5's prev no longer matches
	{
		r, _ := audit.ParseLine(rehashed[3])
		r.Event.Code = "06"
		rehashed[3], _ = audit.Line(&r.Event)
	}
	deleted := append(clone()[:4], clone()[5:]...)
	inserted := append(append(clone()[:4:4], lines[3]), clone()[4:]...)
	reordered := clone()
	reordered[4], reordered[5] = reordered[5], reordered[4]
	badJSON := clone()
	badJSON[6] = []byte(`{"event":`)
	badFirst := clone()
	badFirst[0] = bytes.Replace(badFirst[0], []byte(audit.ZeroHash), []byte(strings.Repeat("1", 64)), 1)
	forgedCP := clone() // checkpoint signed by another key
	{
		var c audit.Chain
		for _, l := range lines[:8] {
			r, _ := audit.ParseLine(l)
			c.Next(&r.Event)
		}
		cp, _ := audit.NewCheckpoint(c.Seq, c.Hash, t0, audittest.NewSigner(9))
		forgedCP[8] = c.Next(&cp)
	}
	tests := []struct {
		name    string
		log     []byte
		trust   bool
		badSeq  uint64
		lastSeq uint64
	}{
		{"edited", join(edited), false, 4, 3},
		{"edited and rehashed", join(rehashed), false, 5, 4},
		{"deleted", join(deleted), false, 5, 4},
		{"inserted", join(inserted), false, 5, 4},
		{"reordered", join(reordered), false, 5, 4},
		{"bad json", join(badJSON), false, 7, 6},
		{"first prev", join(badFirst), false, 1, 0},
		{"blank line", append(join(lines[:2]), append([]byte("\n"), join(lines[2:])...)...), false, 3, 2},
		{"forged checkpoint", join(forgedCP), true, 9, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := audit.VerifyOptions{}
			if tc.trust {
				opts.Checkpoints = audit.VerifierFunc(audittest.NewSigner(7).Verifier())
			}
			r, err := audit.Verify(context.Background(), bytes.NewReader(tc.log), opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Break == nil || r.Break.Seq != tc.badSeq || r.LastSeq != tc.lastSeq {
				t.Fatalf("want break at %d after %d, got %+v break %+v", tc.badSeq, tc.lastSeq, r, r.Break)
			}
		})
	}
	// Without trust, the forged checkpoint's content is still consistent: it passes.
	r, _ := audit.Verify(context.Background(), bytes.NewReader(join(forgedCP)), audit.VerifyOptions{})
	if r.Break != nil {
		t.Fatalf("untrusted verify: %v", r.Break)
	}
}

func TestVerifyCutShortAndPartial(t *testing.T) {
	lines := goldenEvents(t)
	opts := audit.VerifyOptions{Checkpoints: audit.VerifierFunc(audittest.NewSigner(7).Verifier())}
	r, _ := audit.Verify(context.Background(), bytes.NewReader(bytes.Join(lines[:6], []byte("\n"))), opts)
	if r.Break != nil || r.LastSeq != 6 || r.Unattested() != 6 || r.LastCheckpoint != 0 {
		t.Fatalf("cut short: %+v", r)
	}
	r, _ = audit.Verify(context.Background(), bytes.NewReader(bytes.Join(lines[3:], []byte("\n"))), opts)
	if r.Break != nil || !r.Partial() || r.FirstSeq != 4 || r.LastSeq != 9 || r.Unattested() != 0 {
		t.Fatalf("partial: %+v %v", r, r.Break)
	}
}

func TestAttestationSignedContent(t *testing.T) {
	s := audittest.NewSigner(1)
	signed, err := s.Sign(audit.Attestation{Seq: 41, Hash: strings.Repeat("e", 64), Time: t0}.XML())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.Verifier()(signed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.ParseAttestation(doc)
	if err != nil || a.Seq != 41 || !a.Time.Equal(t0) {
		t.Fatalf("%+v %v", a, err)
	}
	tampered := bytes.Replace(signed, []byte("<Seq>41"), []byte("<Seq>42"), 1)
	if _, err := s.Verifier()(tampered); err == nil {
		t.Fatal("tampered attestation verified")
	}
	if _, err := audit.ParseAttestation([]byte(`<!DOCTYPE x><AuditCheckpoint/>`)); err == nil {
		t.Fatal("DOCTYPE accepted")
	}
}
