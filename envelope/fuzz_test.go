package envelope

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"axis/axis/errs"
)

// seed adds the 16 field samples and a few hostile documents to a fuzz corpus.
func seed(f *testing.F) {
	fs, _ := filepath.Glob(filepath.Join(samplesDir, "*.edxml"))
	if len(fs) != 16 {
		f.Fatalf("want 16 samples in %s, found %d", samplesDir, len(fs))
	}
	for _, p := range fs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		billionLaughs,
		`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`,
		`<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`,
		`<a>&#xD800;</a>`,
		"\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>",
	} {
		f.Add([]byte(s))
	}
	if b, err := validPackage().Bytes(); err == nil {
		f.Add(b)
	}
	if b, err := validStatus().Bytes(); err == nil {
		f.Add(b)
	}
}

// checkErr fails unless err carries an errs code of this package's vocabulary.
func checkErr(t *testing.T, err error, allowed ...errs.Code) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error without an errs code: %v", err)
	}
	for _, c := range allowed {
		if e.Code == c {
			return
		}
	}
	t.Fatalf("unexpected code %s: %v", e.Code, err)
}

func FuzzReadDocument(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ReadDocument(b, Limits{MaxBytes: 1 << 20, MaxDepth: 20})
		if err != nil {
			checkErr(t, err, errs.MalformedXML, errs.TooLarge)
			return
		}
		if doc.Root() == nil {
			t.Fatal("accepted a document without a root")
		}
		// What was accepted must survive re-serialization and be accepted again.
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ReadDocument(out, Limits{MaxBytes: 4 << 20, MaxDepth: 20}); err != nil {
			t.Fatalf("re-serialized document rejected: %v\nin:  %q\nout: %q", err, b, out)
		}
	})
}

func FuzzParsePackage(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePackage(b)
		if err != nil {
			checkErr(t, err, errs.MalformedXML, errs.TooLarge, errs.InvalidEnvelope)
			return
		}
		for _, e := range p.Problems() {
			if e.Code != errs.InvalidEnvelope || e.Field == "" {
				t.Fatalf("problem without field: %v", e)
			}
		}
		_, _, _ = p.Recipients(), p.BusinessType(), p.Target()
		for i := range p.Attachments {
			if _, err := p.Attachments[i].Decode(); err != nil {
				checkErr(t, err, errs.InvalidEnvelope)
			}
		}
		// Decode(Build(p)) == p for anything decoded.
		out, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePackage(out)
		if err != nil {
			t.Fatalf("rebuilt package rejected: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip changed the package:\n%+v\n%+v", p, again)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStatus(b)
		if err != nil {
			checkErr(t, err, errs.MalformedXML, errs.TooLarge, errs.InvalidEnvelope)
			return
		}
		for _, e := range s.Problems() {
			if e.Code != errs.InvalidEnvelope || e.Field == "" {
				t.Fatalf("problem without field: %v", e)
			}
		}
		out, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseStatus(out)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, s, again)
		}
	})
}

// FuzzBase64 cross-checks the allocation-free validator against the standard library.
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "QQ==", "QUJD\n", "Q===", "QR==", "A B=C", "QUJDRA==QQ==",
		"QUJDRA+/QUJDRA+/\nQUJDRA==", "QUJDRA+/QUJDRA+!QUJD", "QUJDRA+/QUJDRA==QUJDRA+/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := Attachment{Content: s}
		raw, err := a.Decode()
		if (err == nil) != (checkBase64(s) == nil) {
			t.Fatalf("Decode and checkBase64 disagree on %q", s)
		}
		if err == nil && len(raw) != a.DecodedLen() {
			t.Fatalf("DecodedLen %d, decoded %d", a.DecodedLen(), len(raw))
		}
	})
}
