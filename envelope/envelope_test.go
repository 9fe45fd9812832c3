package envelope

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

func mustBytes(t *testing.T, m interface{ Bytes() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPackageRoundTrip(t *testing.T) {
	cases := map[string]func(p *Package){
		"all fields":       func(p *Package) {},
		"business full":    func(p *Package) { p.Business = fullBusiness() },
		"no business":      func(p *Package) { p.Business = nil },
		"empty optionals":  func(p *Package) { p.OtherInfo, p.ToPlaces, p.ResponseFor = nil, nil, nil },
		"empty structs":    func(p *Package) { p.OtherInfo, p.Business = &OtherInfo{}, &Business{} },
		"no attachments":   func(p *Package) { p.References, p.Attachments, p.ManifestVersion = nil, nil, "" },
		"wrapped base64":   func(p *Package) { p.Attachments[0].Content = wrap64(strings.Repeat("QUJD", 100), 76) },
		"empty recipient":  func(p *Package) { p.To = append(p.To, Organization{}) },
		"carriage return":  func(p *Package) { p.Content = "dòng 1\r\ndòng 2\rdòng 3" },
		"zero package":     func(p *Package) { *p = Package{} },
		"many recipients":  func(p *Package) { p.To = append(p.To, p.To...) },
		"markup in values": func(p *Package) { p.Subject = "<edXML:From>x</edXML:From> ]]> &amp;" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := validPackage()
			mutate(p)
			b := mustBytes(t, p)
			got, err := ParsePackage(b)
			if err != nil {
				t.Fatalf("ParsePackage(Build(p)): %v\n%s", err, b)
			}
			if !reflect.DeepEqual(got, p) {
				t.Errorf("round trip changed the package:\n got %+v\nwant %+v\n%s", got, p, b)
			}
		})
	}
}

func TestStatusRoundTrip(t *testing.T) {
	for _, code := range []string{"01", "02", "03", "04", "05", "06", "13", "15", "16", ""} {
		s := validStatus()
		s.StatusCode = code
		b := mustBytes(t, s)
		got, err := ParseStatus(b)
		if err != nil {
			t.Fatalf("ParseStatus(Build(s)): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("code %q: round trip changed the status:\n got %+v\nwant %+v", code, got, s)
		}
	}
	s := validStatus()
	s.Staff = nil
	got, err := ParseStatus(mustBytes(t, s))
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("without StaffInfo: %v %+v", err, got)
	}
}

// The structure a signer relies on: edXMLHeader holds MessageHeader and TraceHeaderList, a
// Signature appended last is ignored by the decoder, and the kind is detected.
func TestBuildStructure(t *testing.T) {
	p := validPackage()
	doc := p.Build()
	root := doc.Root()
	if root.Tag != "edXML" || root.NamespaceURI() != NS {
		t.Fatalf("root {%s}%s", root.NamespaceURI(), root.Tag)
	}
	h := Header(root)
	if h == nil {
		t.Fatal("Header(root) = nil")
	}
	var names []string
	for _, c := range h.ChildElements() {
		names = append(names, c.Tag)
	}
	if strings.Join(names, ",") != "MessageHeader,TraceHeaderList" {
		t.Errorf("edXMLHeader children %v", names)
	}
	sig := h.CreateElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#")
	sig.CreateElement("ds:SignedInfo").CreateElement("ds:Reference").CreateAttr("URI", "")
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	rd, err := ReadDocument(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if k, err := KindOf(rd.Root()); k != KindPackage || err != nil {
		t.Errorf("KindOf = %v, %v", k, err)
	}
	got, err := DecodePackage(rd.Root())
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("with a Signature appended: %v\n%+v", err, got)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	sdoc := validStatus().Build()
	if k, err := KindOf(sdoc.Root()); k != KindStatus || err != nil {
		t.Errorf("status KindOf = %v, %v", k, err)
	}
	if Header(sdoc.Root()) == nil {
		t.Error("status has no edXMLHeader")
	}
}

// Every decodable sample survives Decode → Build → Parse unchanged.
func TestSamplesRoundTrip(t *testing.T) {
	for _, f := range samples(t) {
		b, _ := os.ReadFile(f)
		doc, err := ReadDocument(b, DefaultLimits())
		if err != nil {
			continue // edoc.edxml, pinned in its golden file
		}
		switch k, _ := KindOf(doc.Root()); k {
		case KindPackage:
			p, err := DecodePackage(doc.Root())
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := ParsePackage(mustBytes(t, p))
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Errorf("%s: package round trip: %v", filepath.Base(f), err)
			}
		case KindStatus:
			s, err := DecodeStatus(doc.Root())
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := ParseStatus(mustBytes(t, s))
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Errorf("%s: status round trip: %v", filepath.Base(f), err)
			}
		default:
			t.Errorf("%s: unknown kind", f)
		}
	}
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Facts read from the samples, stated independently of the golden files.
func TestSampleFacts(t *testing.T) {
	p, err := ParsePackage(readSample(t, "edoc_multi_recipient.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Recipients(); !reflect.DeepEqual(got, []string{"000.00.00.H41", "000.00.00.H14", "000.00.00.G17"}) {
		t.Errorf("Recipients = %v", got)
	}
	if p.From.OrganName != "Văn phòng Chính phủ" || p.Code.CodeNotation != "VPCP-TTĐT" || p.To[1].OrganName != "UBND Tỉnh Cao Bằng" {
		t.Errorf("Vietnamese text: %q %q %q", p.From.OrganName, p.Code.CodeNotation, p.To[1].OrganName)
	}
	if p.DocumentID != "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT" || p.BusinessType() != BusinessNew {
		t.Errorf("DocumentId %q type %d", p.DocumentID, p.BusinessType())
	}
	// The attachment is a zip file (the base64 text decodes to "PK\x03\x04...").
	if p.Attachment("cid:209") != &p.Attachments[0] || p.Attachment("cid:none") != nil {
		t.Error("Attachment lookup by ContentId")
	}
	raw, err := p.Attachments[0].Decode()
	if err != nil || !bytes.HasPrefix(raw, []byte("PK\x03\x04")) {
		t.Errorf("attachment: %v %q", err, raw[:min(4, len(raw))])
	}

	rev, err := ParsePackage(readSample(t, "edoc_revocation.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if rev.BusinessType() != BusinessRevoke || rev.Target() != rev.DocumentID {
		t.Errorf("revocation: type %d target %q", rev.BusinessType(), rev.Target())
	}
	if err := rev.Validate(); err != nil {
		t.Errorf("revocation should be valid: %v", err)
	}
	upd, err := ParsePackage(readSample(t, "edoc_update.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if upd.BusinessType() != BusinessUpdate || upd.Target() != "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT" {
		t.Errorf("update: type %d target %q", upd.BusinessType(), upd.Target())
	}
	if r := upd.Business.DocumentInfo.Receivers; len(r) != 2 || r[1] != (Receiver{"000.00.00.H14", "1"}) {
		t.Errorf("update receivers %+v", r)
	}
	rep, err := ParsePackage(readSample(t, "edoc_replacement.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.BusinessType() != BusinessReplace || len(rep.Business.Replacements) != 2 || len(rep.Business.Replacements[0].OrganIDs) != 2 {
		t.Errorf("replacement: %+v", rep.Business)
	}
	nw, err := ParsePackage(readSample(t, "edoc_new.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if nw.To[0].OrganID != "28.22.H17" {
		t.Errorf("malformed OrganId must be read as is, got %q", nw.To[0].OrganID)
	}
	if _, ok := ParseOrganID(nw.To[0].OrganID); ok {
		t.Error("28.22.H17 reported as four-level")
	}

	st, err := ParseStatus(readSample(t, "status_cancellation_13.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if st.StatusCode != StatusRecallRequest || st.From.OrganID != "000.00.00.G22" || st.ResponseFor.OrganID != "000.00.00.H41" {
		t.Errorf("status 13: %+v", st)
	}
	if !strings.HasPrefix(st.Description, "Văn thư yêu cầu lấy lại") {
		t.Errorf("Description %q", st.Description)
	}
	if _, err := ParsePackage(readSample(t, "status.edxml")); !errs.Is(err, errs.InvalidEnvelope) {
		t.Errorf("ParsePackage(status) = %v, want invalid_envelope", err)
	}
	if _, err := ParseStatus(readSample(t, "edoc_update.edxml")); !errs.Is(err, errs.InvalidEnvelope) {
		t.Errorf("ParseStatus(package) = %v, want invalid_envelope", err)
	}
	// edoc.edxml is not well-formed (<From> opened twice, closed once): rejected, not repaired.
	if _, err := ParsePackage(readSample(t, "edoc.edxml")); !errs.Is(err, errs.MalformedXML) {
		t.Errorf("edoc.edxml: %v, want malformed_xml", err)
	}
}

// Matching is by namespace and local name: prefixes, declaration placement and element order
// do not matter, and look-alike elements in another namespace are ignored.
func TestNamespaceMatching(t *testing.T) {
	want := &Package{
		From:         Organization{OrganID: "A"},
		To:           []Organization{{OrganID: "B"}, {OrganID: "C"}},
		DocumentID:   "A,2020/01/02,1/X",
		Subject:      "Chủ đề",
		SteeringType: "1",
	}
	docs := map[string]string{
		"default ns": `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader>
			<From><OrganId>A</OrganId></From><To><OrganId>B</OrganId></To><To><OrganId>C</OrganId></To>
			<DocumentId>A,2020/01/02,1/X</DocumentId><Subject>Chủ đề</Subject><SteeringType>1</SteeringType>
			</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`,
		"odd prefixes, shuffled": `<q:edXML xmlns:q="` + NS + `"><q:edXMLEnvelope><z:edXMLHeader xmlns:z="` + NS + `">
			<MessageHeader xmlns="` + NS + `"><SteeringType>1</SteeringType><To><OrganId>B</OrganId></To>
			<q:Subject>  Chủ đề
			</q:Subject><q:DocumentId>A,2020/01/02,1/X</q:DocumentId><To><OrganId>C</OrganId></To>
			<From><!-- c --><OrganId><![CDATA[A]]></OrganId></From></MessageHeader></z:edXMLHeader></q:edXMLEnvelope></q:edXML>`,
		"foreign look-alikes ignored": `<edXML xmlns="` + NS + `" xmlns:evil="urn:evil"><edXMLEnvelope><edXMLHeader><MessageHeader>
			<evil:From><OrganId>EVIL</OrganId></evil:From>
			<From><OrganId>A</OrganId><evil:OrganId>EVIL</evil:OrganId></From><To><OrganId>B</OrganId></To><To><OrganId>C</OrganId></To>
			<DocumentId>A,2020/01/02,1/X</DocumentId><Subject>Chủ đề</Subject><SteeringType>1</SteeringType>
			<To xmlns="urn:other"><OrganId>D</OrganId></To>
			</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`,
	}
	for name, s := range docs {
		got, err := ParsePackage([]byte(s))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

func TestDecodeStructureErrors(t *testing.T) {
	const open = `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader>`
	const close = `</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`
	cases := []struct {
		name, doc, field string
	}{
		{"wrong root namespace", `<edXML xmlns="urn:x"><edXMLEnvelope/></edXML>`, "edXML"},
		{"wrong root name", `<Envelope xmlns="` + NS + `"/>`, "edXML"},
		{"no envelope", `<edXML xmlns="` + NS + `"/>`, "edXMLEnvelope"},
		{"two envelopes", `<edXML xmlns="` + NS + `"><edXMLEnvelope/><edXMLEnvelope/></edXML>`, "edXMLEnvelope"},
		{"no header", `<edXML xmlns="` + NS + `"><edXMLEnvelope/></edXML>`, "edXMLEnvelope/edXMLHeader"},
		{"no message header", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>`, "MessageHeader"},
		{"two message headers", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader/><MessageHeader/></edXMLHeader></edXMLEnvelope></edXML>`, "MessageHeader"},
		{"two From", open + `<From><OrganId>A</OrganId></From><From><OrganId>B</OrganId></From>` + close, "MessageHeader/From"},
		{"two OrganId in From", open + `<From><OrganId>A</OrganId><OrganId>B</OrganId></From>` + close, "MessageHeader/From/OrganId"},
		{"two DocumentId", open + `<DocumentId>a</DocumentId><DocumentId>b</DocumentId>` + close, "MessageHeader/DocumentId"},
		{"two Subject", open + `<Subject>a</Subject><Subject>b</Subject>` + close, "MessageHeader/Subject"},
		{"element inside a leaf", open + `<Subject>a<b>hidden</b></Subject>` + close, "MessageHeader/Subject"},
		{"leaf in To[2]", open + `<To><OrganId>A</OrganId></To><To><OrganId>B<x/></OrganId></To>` + close, "MessageHeader/To[2]/OrganId"},
		{"two TraceHeaderList", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader/><TraceHeaderList/><TraceHeaderList/></edXMLHeader></edXMLEnvelope></edXML>`, "TraceHeaderList"},
		{"two Bussiness", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader/><TraceHeaderList><Bussiness/><Bussiness/></TraceHeaderList></edXMLHeader></edXMLEnvelope></edXML>`, "TraceHeaderList/Bussiness"},
		{"two AttachmentEncoded", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader/></edXMLHeader></edXMLEnvelope><AttachmentEncoded/><AttachmentEncoded/></edXML>`, "AttachmentEncoded"},
		{"two contents", `<edXML xmlns="` + NS + `"><edXMLEnvelope><edXMLHeader><MessageHeader/></edXMLHeader></edXMLEnvelope><AttachmentEncoded><Attachment><ContentTransferEncoded>QQ==</ContentTransferEncoded><ContentTransferEncoded>Qg==</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>`, "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"},
		{"status as package", open + `<StatusCode>01</StatusCode>` + close, "MessageHeader/StatusCode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePackage([]byte(c.doc))
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.InvalidEnvelope || e.Field != c.field {
				t.Errorf("got %v, want invalid_envelope at %s", err, c.field)
			}
		})
	}
	// Status-specific structure.
	scases := []struct{ name, doc, field string }{
		{"package as status", open + `<From/>` + close, "MessageHeader/StatusCode"},
		{"two StatusCode", open + `<StatusCode>01</StatusCode><StatusCode>03</StatusCode>` + close, "MessageHeader/StatusCode"},
		{"two ResponseFor", open + `<ResponseFor/><ResponseFor/><StatusCode>01</StatusCode>` + close, "MessageHeader/ResponseFor"},
	}
	for _, c := range scases {
		_, err := ParseStatus([]byte(c.doc))
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.InvalidEnvelope || e.Field != c.field {
			t.Errorf("%s: got %v, want invalid_envelope at %s", c.name, err, c.field)
		}
	}
	if _, err := KindOf(nil); !errs.Is(err, errs.InvalidEnvelope) {
		t.Errorf("KindOf(nil) = %v", err)
	}
	if _, err := DecodePackage(nil); !errs.Is(err, errs.InvalidEnvelope) {
		t.Errorf("DecodePackage(nil) = %v", err)
	}
	if Header(etree.NewElement("x")) != nil {
		t.Error("Header of a non-edXML element")
	}
}

func TestConvenience(t *testing.T) {
	p := validPackage()
	if got := p.Recipients(); !reflect.DeepEqual(got, []string{"000.00.00.H41", "000.00.00.H14"}) {
		t.Errorf("Recipients (deduped, ordered) = %v", got)
	}
	p.To = []Organization{{}, {OrganID: "B"}, {OrganID: "A"}, {OrganID: "B"}}
	if got := p.Recipients(); !reflect.DeepEqual(got, []string{"B", "A"}) {
		t.Errorf("Recipients = %v", got)
	}
	for _, c := range []struct {
		b      *Business
		typ    int
		target string
	}{
		{nil, 0, p.DocumentID},
		{&Business{}, 0, p.DocumentID},
		{&Business{DocType: "1"}, 1, p.DocumentID},
		{&Business{DocType: "2", DocumentID: "X,2020/01/01,1/A"}, 2, "X,2020/01/01,1/A"},
		{&Business{DocType: "3"}, 3, p.DocumentID},
		{&Business{DocType: "7"}, -1, p.DocumentID},
		{&Business{DocType: "01"}, -1, p.DocumentID},
	} {
		p.Business = c.b
		if p.BusinessType() != c.typ || p.Target() != c.target {
			t.Errorf("%+v: BusinessType %d Target %q", c.b, p.BusinessType(), p.Target())
		}
	}
	if KindPackage.String() != "edoc" || KindStatus.String() != "status" || KindUnknown.String() != "unknown" {
		t.Error("Kind names")
	}
}

func readSampleFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
