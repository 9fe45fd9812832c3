package receipt

import (
	"bytes"
	"crypto/x509"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"axis/signing"
)

// The daemon's identity takes the fast path.
var _ bytesSigner = (*signing.Signer)(nil)

// etreeOnly hides AppendEnvelopedSignature: Build must then take the etree path.
type etreeOnly struct{ s *signing.Signer }

func (e etreeOnly) Sign(doc *etree.Document) error { return e.s.Sign(doc) }

// assertSame builds r both ways with s and fails unless the bytes (or the errors) are
// the same.
func assertSame(t testing.TB, r Receipt, s *signing.Signer) []byte {
	t.Helper()
	want, werr := buildSlow(r, s)
	got, gerr := Build(r, s)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("errors differ: etree path %v, fast path %v (receipt %#v)", werr, gerr, r)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("fast path differs at byte %d (receipt %#v)\netree: %q\nfast:  %q", i, r,
			want[max(0, i-40):min(len(want), i+80)], got[max(0, i-40):min(len(got), i+80)])
	}
	return got
}

// Edge cases named one by one; generated ones follow.
var edgeReceipts = []struct {
	name string
	r    Receipt
}{
	{"daemon-like", sample()},
	{"empty fields, no recipients", Receipt{}},
	{"markup characters", Receipt{DocumentID: `a&b<c>d"e'f`, From: "&amp;", SHA256: "<![CDATA[x]]>",
		Recipients: []string{`"`, "'", "<", ">", "&"}}},
	{"whitespace", Receipt{DocumentID: "a\tb\nc\rd\r\n", From: " ", SHA256: "\t", Recipients: []string{"\r", "\n", " x "}}},
	{"non-ASCII", Receipt{DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", From: "Bộ Nội vụ 🏛",
		Recipients: []string{"Sở Tài chính", "\u00a0", "\ufeffbom"}}},
	{"outside XML's range", Receipt{DocumentID: "a\x00b\x01c\x1f", From: "\ufffe\uffff", SHA256: "\ufffd",
		Recipients: []string{"\x7f", "\u0085", "\u2028"}}},
	{"invalid UTF-8", Receipt{DocumentID: "\xff\xfe", From: "\xed\xa0\x80", SHA256: "a\xc3", Recipients: []string{"\xe2\x82", "\x80"}}},
	{"whole seconds", Receipt{DocumentID: "x", AcceptedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
	{"milliseconds, another zone", Receipt{DocumentID: "x", AcceptedAt: time.Date(2026, 1, 2, 3, 4, 5, 120e6, time.FixedZone("ICT", 7*3600))}},
	{"zero time, max seq", Receipt{AuditSeq: math.MaxUint64}},
	{"year 10000", Receipt{AcceptedAt: time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC)}},
	{"negative year", Receipt{AcceptedAt: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
	{"one empty recipient", Receipt{Recipients: []string{""}}},
	{"many recipients", Receipt{Recipients: strings.Split(strings.Repeat("000.00.00.H01,", 200), ",")}},
	{"long id", Receipt{DocumentID: strings.Repeat("Đ&<", 30000)}},
}

func TestFastPathEqualsEtreePath(t *testing.T) {
	p := pki(t)
	for _, sg := range p.signers() {
		t.Run(sg.name, func(t *testing.T) {
			for _, c := range edgeReceipts {
				t.Run(c.name, func(t *testing.T) { assertSame(t, c.r, sg.s) })
			}
			// RSA signing is ~50x slower than ECDSA under -race: fewer of them.
			n := 400
			if sg.name == "rsa-2048" {
				n = 60
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(sg.name))))
			for range n {
				assertSame(t, randomReceipt(rng), sg.s)
			}
		})
	}
}

// randomReceipt draws fields from pieces that exercise every escaping rule.
func randomReceipt(rng *rand.Rand) Receipt {
	pieces := []string{"000.00.00.G22", ",2026/11/22,", "7816/VPCP-TTĐT", "&", "<", ">", `"`, "'", "\r", "\n", "\t",
		"\r\n", " ", "é", "Đ", "ế", "🏛", "\ufffd", "\ufffe", "\x00", "\x1f", "\x7f", "\xff", "\xc3", "\xed\xa0\x80",
		"]]>", "&amp;", "&#xD;", "a", "Z", "0", "9"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	r := Receipt{DocumentID: str(), From: str(), SHA256: str(), AuditSeq: rng.Uint64() >> rng.IntN(64)}
	sec := rng.Int64N(4102444800) // 1970..2100
	var ns int64
	switch rng.IntN(4) {
	case 1:
		ns = rng.Int64N(1e9)
	case 2:
		ns = rng.Int64N(1000) * 1e6
	case 3:
		ns = rng.Int64N(1e6) * 1e3
	}
	zones := []*time.Location{time.UTC, time.FixedZone("ICT", 7*3600), time.FixedZone("W", -9*3600-1800)}
	r.AcceptedAt = time.Unix(sec, ns).In(zones[rng.IntN(len(zones))])
	for range rng.IntN(6) {
		r.Recipients = append(r.Recipients, str())
	}
	return r
}

// A signer that only signs trees gets the etree path, with the same bytes.
func TestOtherSignersTakeTheEtreePath(t *testing.T) {
	p := pki(t)
	s := p.signers()[0].s
	r := sample()
	want := assertSame(t, r, s)
	got, err := Build(r, etreeOnly{s})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("etree-only signer: err %v, equal %v", err, bytes.Equal(got, want))
	}
}

// A misconfigured identity fails the same way on both paths.
func TestFastPathErrorsAsEtreePath(t *testing.T) {
	p := pki(t)
	for _, s := range []*signing.Signer{
		{Key: p.ec.Key, Cert: p.rsa.Cert}, // key and certificate do not match
		{Key: p.ec.Key},                   // no certificate
	} {
		got, err := Build(sample(), s)
		if err == nil || got != nil {
			t.Fatalf("Build with a bad signer: %q, %v", got, err)
		}
		assertSame(t, sample(), s)
	}
}

// Fast-path receipts verify: with the signing Verifier (what `axis verify` runs), and
// the fields read back are the fields written.
func TestFastPathReceiptsVerify(t *testing.T) {
	p := pki(t)
	v := signing.NewVerifier(p.ts, signing.Options{})
	for _, sg := range p.signers() {
		for _, c := range []Receipt{sample(), {DocumentID: `a&b<c>d"e'f Đ`, From: "F", SHA256: "S",
			AcceptedAt: time.Unix(1, 0).UTC(), AuditSeq: 1}} {
			b, err := Build(c, sg.s)
			if err != nil {
				t.Fatal(err)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(b); err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(doc)
			if err != nil {
				t.Fatalf("%s: receipt does not verify: %v\n%s", sg.name, err, b)
			}
			if res.Signer.Equal(sg.s.Cert) != true {
				t.Fatalf("%s: signed by %s", sg.name, res.Signer.Subject)
			}
			got, err := Decode(res.Root)
			if err != nil {
				t.Fatal(err)
			}
			if got.DocumentID != c.DocumentID || got.From != c.From || got.SHA256 != c.SHA256 ||
				!got.AcceptedAt.Equal(c.AcceptedAt) || got.AuditSeq != c.AuditSeq || strings.Join(got.Recipients, "|") != strings.Join(c.Recipients, "|") {
				t.Fatalf("%s: decoded %+v, built %+v", sg.name, got, c)
			}
			// and a changed byte of content does not verify
			bad := bytes.Replace(b, []byte("<From>F<"), []byte("<From>G<"), 1)
			if !bytes.Equal(bad, b) {
				doc := etree.NewDocument()
				if err := doc.ReadFromBytes(bad); err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(doc); err == nil {
					t.Fatalf("%s: tampered receipt verifies", sg.name)
				}
			}
		}
	}
}

// xmlsec1, the reference implementation, accepts fast-path receipts of both signers.
func TestXMLSecVerifiesFastPathReceipts(t *testing.T) {
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmlsec1 is required when CI=true")
		}
		t.Skip("xmlsec1 not installed")
	}
	p := pki(t)
	r := sample()
	r.DocumentID = `a&b<c>d"e'f Đ`
	for _, sg := range p.signers() {
		b, err := Build(r, sg.s)
		if err != nil {
			t.Fatal(err)
		}
		verify := func(doc []byte) (bool, string) {
			f := filepath.Join(t.TempDir(), "receipt.xml")
			if err := os.WriteFile(f, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "--verify", "--enabled-key-data", "x509",
				"--trusted-pem", filepath.Join(p.dir, "root.pem"), f).CombinedOutput()
			return err == nil, string(out)
		}
		if ok, out := verify(b); !ok {
			t.Fatalf("%s: xmlsec1 rejects the receipt:\n%s\n%s", sg.name, out, b)
		}
		if ok, _ := verify(bytes.Replace(b, []byte("<AuditSeq>1"), []byte("<AuditSeq>2"), 1)); ok {
			t.Fatalf("%s: xmlsec1 accepts a tampered receipt", sg.name)
		}
	}
}

// FuzzBuildFastEqualsSlow: for any fields, the fast path writes the etree path's bytes.
func FuzzBuildFastEqualsSlow(f *testing.F) {
	for _, c := range edgeReceipts {
		if len(c.r.DocumentID) > 1000 {
			continue
		}
		f.Add(c.r.DocumentID, c.r.From, c.r.SHA256, c.r.AcceptedAt.Unix(), int64(c.r.AcceptedAt.Nanosecond()),
			c.r.AuditSeq, strings.Join(c.r.Recipients, "\x00"), len(c.r.Recipients) > 0, false)
	}
	f.Add("a", "b", "c", int64(1e9), int64(5e8), uint64(7), "x\x00y", true, true)
	p := pki(f)
	signers := p.signers()
	f.Fuzz(func(t *testing.T, id, from, sum string, sec, nsec int64, seq uint64, to string, hasTo, rsa bool) {
		r := Receipt{DocumentID: id, From: from, SHA256: sum, AcceptedAt: time.Unix(sec, nsec), AuditSeq: seq}
		if hasTo {
			r.Recipients = strings.Split(to, "\x00")
		}
		s := signers[0].s
		if rsa {
			s = signers[1].s
		}
		assertSame(t, r, s)
	})
}

// Signers of other configurations: an ECDSA leaf without chain (one certificate).
func TestFastPathEqualsEtreePathOneCert(t *testing.T) {
	p := pki(t)
	s := &signing.Signer{Key: p.ec.Key, Cert: p.ec.Cert, Chain: []*x509.Certificate{}}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 50 {
		assertSame(t, randomReceipt(rng), s)
	}
}
