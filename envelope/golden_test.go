package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"axis/axis/errs"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

const samplesDir = "../testdata/edxml"

func samples(t testing.TB) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(samplesDir, "*.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 16 {
		t.Fatalf("want the 16 field samples in %s, found %d", samplesDir, len(fs))
	}
	return fs
}

// goldenAttachment pins an attachment without its (large) base64 text.
type goldenAttachment struct {
	ContentID      string `json:"ContentId"`
	AttachmentName string `json:"AttachmentName"`
	Description    string `json:"Description"`
	ContentType    string `json:"ContentType"`
	Base64Len      int    `json:"base64_len"`
	Base64SHA256   string `json:"base64_sha256"`
	DecodedLen     int    `json:"decoded_len"`
	DecodedSHA256  string `json:"decoded_sha256,omitempty"`
	DecodeError    string `json:"decode_error,omitempty"`
}

type goldenResult struct {
	ReadError    string             `json:"read_error,omitempty"`
	Kind         string             `json:"kind,omitempty"`
	DecodeError  string             `json:"decode_error,omitempty"`
	Package      *Package           `json:"package,omitempty"`
	Attachments  []goldenAttachment `json:"attachments,omitempty"`
	Recipients   []string           `json:"recipients,omitempty"`
	BusinessType *int               `json:"business_type,omitempty"`
	Target       string             `json:"target,omitempty"`
	Status       *Status            `json:"status,omitempty"`
	Valid        bool               `json:"valid"`
	Problems     []string           `json:"problems,omitempty"`
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func errText(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return "NOT AN errs.Error: " + err.Error()
	}
	return string(e.Code) + ": " + e.Message()
}

func sampleResult(t *testing.T, b []byte) goldenResult {
	var r goldenResult
	doc, err := ReadDocument(b, DefaultLimits())
	if err != nil {
		r.ReadError = errText(err)
		return r
	}
	kind, err := KindOf(doc.Root())
	if err != nil {
		r.DecodeError = errText(err)
		return r
	}
	r.Kind = kind.String()
	var problems []*errs.Error
	switch kind {
	case KindPackage:
		p, err := DecodePackage(doc.Root())
		if err != nil {
			r.DecodeError = errText(err)
			return r
		}
		problems = p.Problems()
		cp := *p
		cp.Attachments = nil
		r.Package = &cp
		for i := range p.Attachments {
			a := &p.Attachments[i]
			g := goldenAttachment{
				ContentID: a.ContentID, AttachmentName: a.AttachmentName, Description: a.Description,
				ContentType: a.ContentType, Base64Len: len(a.Content), Base64SHA256: hexSHA([]byte(a.Content)),
				DecodedLen: a.DecodedLen(),
			}
			if raw, err := a.Decode(); err != nil {
				g.DecodeError = errText(err)
			} else {
				g.DecodedSHA256 = hexSHA(raw)
				if len(raw) != g.DecodedLen {
					t.Errorf("DecodedLen %d != len(Decode()) %d", g.DecodedLen, len(raw))
				}
			}
			r.Attachments = append(r.Attachments, g)
		}
		r.Recipients = p.Recipients()
		bt := p.BusinessType()
		r.BusinessType = &bt
		r.Target = p.Target()
	case KindStatus:
		s, err := DecodeStatus(doc.Root())
		if err != nil {
			r.DecodeError = errText(err)
			return r
		}
		problems = s.Problems()
		r.Status = s
	}
	r.Valid = len(problems) == 0
	for _, p := range problems {
		r.Problems = append(r.Problems, errText(p))
	}
	return r
}

// repairEdoc fixes the three XML errors of edoc.edxml (a second <From> start tag that is
// never closed, the undeclared xlink: prefix, and edXML:AttachmentEncoded used outside the
// scope of its xmlns:edXML declaration) so that the golden file edoc_repaired.json can
// show what the axis would think of its content.
func repairEdoc(t *testing.T, b []byte) []byte {
	fixes := []struct{ old, new string }{
		{"<edXML:From>\r\n         <edXML:From>", "<edXML:From>"},
		{` xlink:href=""`, ""},
		{"<edXML:AttachmentEncoded>", `<edXML:AttachmentEncoded xmlns:edXML="` + NS + `">`},
	}
	for _, f := range fixes {
		if bytes.Count(b, []byte(f.old)) != 1 {
			t.Fatalf("edoc.edxml changed: %q no longer found once", f.old)
		}
		b = bytes.Replace(b, []byte(f.old), []byte(f.new), 1)
	}
	return b
}

// TestGoldenSamples pins what is read from each field sample, and its validation result.
// Regenerate with: go test ./envelope -run TestGoldenSamples -update
func TestGoldenSamples(t *testing.T) {
	files := samples(t)
	files = append(files, filepath.Join(samplesDir, "edoc.edxml#repaired"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".edxml")
		if strings.HasSuffix(f, "#repaired") {
			name = "edoc_repaired"
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(strings.TrimSuffix(f, "#repaired"))
			if err != nil {
				t.Fatal(err)
			}
			if name == "edoc_repaired" {
				b = repairEdoc(t, b)
			}
			got, err := json.MarshalIndent(sampleResult(t, b), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; got:\n%s", path, got)
			}
		})
	}
}
