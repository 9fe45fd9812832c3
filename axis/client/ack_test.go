package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"axis/axis/errs"
)

// answerJSON is a package answer as the daemon encodes it (encoding/json: <, > and &
// escaped), with a receipt of the daemon's size.
func answerJSON(tb testing.TB, docID, sha string) []byte {
	tb.Helper()
	receipt := `<?xml version="1.0" encoding="UTF-8"?><Receipt xmlns="urn:axis:receipt" DocumentId="` + docID + `">` +
		strings.Repeat(`<ds:Reference URI="#r" Id="x"><ds:DigestValue>q1w2e3r4t5y6u7i8o9p0==</ds:DigestValue></ds:Reference>`, 20) + `</Receipt>`
	b, err := json.Marshal(PackageAnswer{DocumentID: docID, SHA256: sha, AcceptedAt: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		AuditSeq: 42, Recipients: []Recipient{{"000.00.01.H01", "pending"}, {"000.00.02.H02", "pending"}}, Receipt: receipt})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecodeAcceptance(t *testing.T) {
	real := answerJSON(t, "000.00.00.G01,2026/11/22,12/QĐ-UBND", "ab12")
	for _, tc := range []struct {
		name, body  string
		doc, sha    string
		errContains string
	}{
		{"daemon answer", string(real), "000.00.00.G01,2026/11/22,12/QĐ-UBND", "ab12", ""},
		{"spaces", " {\n \"sha256\" : \"s\" ,\t\"document_id\":\"d\" }\r\n", "d", "s", ""},
		{"escaped values", `{"document_id":"a\/b\u002c\"c","sha256":"\u0073"}`, `a/b,"c`, "s", ""},
		{"skips nested and literals", `{"x":{"document_id":"no","y":[1,{"z":"]}"}]},"n":-1.5e3,"t":true,"nl":null,"document_id":"d","sha256":"s"}`, "d", "s", ""},
		{"escaped quote before the end", `{"r":"a\\","document_id":"d","sha256":"s\\\"x"}`, "d", `s\"x`, ""},
		{"last key wins", `{"document_id":"a","document_id":"b","sha256":"s"}`, "b", "s", ""},
		{"key is case-sensitive", `{"Document_ID":"a","sha256":"s"}`, "", "", "missing"},
		{"empty object", `{}`, "", "", "missing"},
		{"empty value", `{"document_id":"","sha256":"s"}`, "", "", "missing"},
		{"not a string", `{"document_id":1,"sha256":"s"}`, "", "", "not a string"},
		{"array", `["document_id"]`, "", "", "not an object"},
		{"empty", ``, "", "", "not an object"},
		{"cut in a string", `{"document_id":"d","sha256":"s`, "", "", "unterminated"},
		{"cut in a nested value", `{"r":[{"a":1}`, "", "", "unterminated"},
		{"mismatched nesting", `{"r":[}],"document_id":"d","sha256":"s"}`, "", "", "mismatched"},
		{"missing colon", `{"document_id" "d"}`, "", "", "':'"},
		{"trailing data", `{"document_id":"d","sha256":"s"}x`, "", "", "after the object"},
		{"missing comma", `{"document_id":"d" "sha256":"s"}`, "", "", "',' or '}'"},
		{"bad escape", `{"document_id":"\q","sha256":"s"}`, "", "", "bad string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DecodeAcceptance([]byte(tc.body))
			if tc.errContains != "" {
				if !errs.Is(err, errs.Internal) || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("want internal %q, got %+v %v", tc.errContains, a, err)
				}
				return
			}
			if err != nil || a.DocumentID != tc.doc || a.SHA256 != tc.sha {
				t.Fatalf("got %+v %v, want %q %q", a, err, tc.doc, tc.sha)
			}
		})
	}
}

// refAcceptance is DecodeAcceptance by encoding/json's tokenizer: the reference the
// fuzz target compares with on valid JSON.
func refAcceptance(b []byte) (Acceptance, bool) {
	var a Acceptance
	d := json.NewDecoder(strings.NewReader(string(b)))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return a, false
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return a, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return a, false
		}
		var field *string
		switch k {
		case "document_id":
			field = &a.DocumentID
		case "sha256":
			field = &a.SHA256
		}
		if field != nil {
			var s string
			if json.Unmarshal(v, &s) != nil || v[0] != '"' {
				return a, false
			}
			*field = s
		}
	}
	return a, a.DocumentID != "" && a.SHA256 != ""
}

// On valid JSON, DecodeAcceptance agrees with encoding/json; on anything else it never
// panics and either refuses or returns both fields.
func FuzzDecodeAcceptance(f *testing.F) {
	f.Add(answerJSON(f, "000.00.00.G01,2026/11/22,12/QĐ-UBND", "ab12"))
	f.Add([]byte(`{"x":{"document_id":"no","y":[1,{"z":"]}"}]},"document_id":"d","sha256":"s"}`))
	f.Add([]byte(`{"document_id":"a\/b\u002c\"c","sha256":"\u0073"}`))
	f.Add([]byte(`{"r":"a\\","document_id":"d","sha256":"s\\\"x"}`))
	f.Add([]byte(`{"document_id":"\xff","sha256":"s"}`))
	f.Add([]byte(`{"r":[}],"document_id":"d","sha256":"s"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAcceptance(b)
		if err == nil && (a.DocumentID == "" || a.SHA256 == "") {
			t.Fatalf("accepted without both fields: %+v", a)
		}
		if !json.Valid(b) {
			return
		}
		ref, ok := refAcceptance(b)
		if ok != (err == nil) || (ok && (ref.DocumentID != a.DocumentID || ref.SHA256 != a.SHA256)) {
			t.Fatalf("%q: got %+v %v, encoding/json %+v %v", b, a, err, ref, ok)
		}
	})
}

func TestSubmitPackageAck(t *testing.T) {
	var f fake
	status, body := http.StatusAccepted, string(answerJSON(t, "D1", "s1"))
	c := f.server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/packages" {
			t.Errorf("path %s", r.URL.Path)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		existing bool
		code     errs.Code
	}{
		{"accepted", http.StatusAccepted, body, false, ""},
		{"accepted before", http.StatusOK, body, true, ""},
		{"refused", http.StatusConflict, `{"error":{"code":"duplicate_document","message":"other bytes"}}`, false, errs.DuplicateDocument},
		{"refused by a proxy", http.StatusBadGateway, `<html>`, false, errs.Unavailable},
		{"2xx without the fields", http.StatusAccepted, `{"ok":true}`, false, errs.Internal},
		{"2xx not JSON", http.StatusAccepted, `accepted`, false, errs.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body = tc.status, tc.body
			a, err := c.SubmitPackageAck(ctx, []byte("<edXML/>"))
			if tc.code != "" {
				if !errs.Is(err, tc.code) {
					t.Fatalf("want %s, got %+v %v", tc.code, a, err)
				}
				return
			}
			if err != nil || a != (Acceptance{DocumentID: "D1", SHA256: "s1", Existing: tc.existing}) {
				t.Fatalf("%+v %v", a, err)
			}
			if string(f.body) != "<edXML/>" || f.ctype != "application/xml" {
				t.Fatalf("request %q %q", f.body, f.ctype)
			}
		})
	}
}

func TestSubmitPackageAckUnreachable(t *testing.T) {
	c, err := New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitPackageAck(context.Background(), []byte("x")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable, got %v", err)
	}
}

func TestReadAnswerLimit(t *testing.T) {
	_, err := readAnswer(io.LimitReader(zeros{}, maxAnswer+10), nil)
	if !errs.Is(err, errs.Internal) {
		t.Fatalf("want internal for an oversized answer, got %v", err)
	}
	_, err = readAnswer(failing{}, nil)
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable for a broken connection, got %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("reset") }

// BenchmarkDecodeAnswer compares the full decoding SubmitPackage does with
// DecodeAcceptance on the same daemon-sized answer.
func BenchmarkDecodeAnswer(b *testing.B) {
	body := answerJSON(b, "000.00.00.G01,2026/11/22,12/QĐ-UBND", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	b.Run("full", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var a PackageAnswer
			if err := json.Unmarshal(body, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("acceptance", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAcceptance(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
