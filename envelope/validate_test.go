package envelope

import (
	"encoding/base64"
	"strings"
	"testing"

	"axis/axis/errs"
)

func fieldsOf(ps []*errs.Error) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Field)
	}
	return out
}

func TestPackageValidation(t *testing.T) {
	if ps := validPackage().Problems(); len(ps) != 0 {
		t.Fatalf("fixture invalid: %v", ps)
	}
	cases := []struct {
		name   string
		mutate func(p *Package)
		fields []string // every problem expected, in order ("" = valid)
	}{
		{"valid", func(p *Package) {}, nil},
		{"valid with full business", func(p *Package) { p.Business = fullBusiness() }, nil},
		{"valid wrapped base64", func(p *Package) { p.Attachments[0].Content = wrap64(p.Attachments[0].Content, 8) + "\n\t " }, nil},
		{"valid empty attachment", func(p *Package) { p.Attachments[0].Content = "" }, nil},
		{"valid without attachments", func(p *Package) { p.References, p.Attachments = nil, nil }, nil},
		{"valid leap day", func(p *Package) { p.DueDate = "2016/02/29" }, nil},
		{"valid malformed OrganId (registry decides)", func(p *Package) { p.To[0].OrganID = "28.22.H17" }, nil},
		{"valid without Bussiness", func(p *Package) { p.Business = nil }, nil},
		{"valid revoke targets header DocumentId", func(p *Package) { p.Business.DocType = "1" }, nil},

		{"From/OrganId missing", func(p *Package) { p.From.OrganID = "" }, []string{"MessageHeader/From/OrganId"}},
		{"no To", func(p *Package) { p.To = nil }, []string{"MessageHeader/To"}},
		{"To[2] without OrganId", func(p *Package) { p.To[1].OrganID = "" }, []string{"MessageHeader/To[2]/OrganId"}},
		{"DocumentId missing", func(p *Package) { p.DocumentID = "" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId one part", func(p *Package) { p.DocumentID = "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId bad date", func(p *Package) { p.DocumentID = "000.00.00.G22,2015/02/29,1/X" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId dashed date", func(p *Package) { p.DocumentID = "000.00.00.G22,2015-09-30,1/X" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId no notation", func(p *Package) { p.DocumentID = "000.00.00.G22,2015/09/30,7816" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId empty number", func(p *Package) { p.DocumentID = "000.00.00.G22,2015/09/30,/X" }, []string{"MessageHeader/DocumentId"}},
		{"DocumentId of another agency", func(p *Package) { p.DocumentID = "000.00.00.H41,2015/09/30,1/X" }, []string{"MessageHeader/DocumentId"}},
		{"CodeNumber missing", func(p *Package) { p.Code.CodeNumber = "" }, []string{"MessageHeader/Code/CodeNumber"}},
		{"Code missing", func(p *Package) { p.Code = Code{} }, []string{"MessageHeader/Code/CodeNumber", "MessageHeader/Code/CodeNotation"}},
		{"PromulgationDate missing", func(p *Package) { p.PromulgationInfo = PromulgationInfo{} }, []string{"MessageHeader/PromulgationInfo/PromulgationDate"}},
		{"PromulgationDate 13th month", func(p *Package) { p.PromulgationInfo.PromulgationDate = "2015/13/01" }, []string{"MessageHeader/PromulgationInfo/PromulgationDate"}},
		{"PromulgationDate unpadded", func(p *Package) { p.PromulgationInfo.PromulgationDate = "2015/9/30" }, []string{"MessageHeader/PromulgationInfo/PromulgationDate"}},
		{"DocumentType missing", func(p *Package) { p.DocumentType = DocumentType{} }, []string{"MessageHeader/DocumentType/Type"}},
		{"DocumentType not a number", func(p *Package) { p.DocumentType.Type = "Công văn" }, []string{"MessageHeader/DocumentType/Type"}},
		{"Subject missing", func(p *Package) { p.Subject = "" }, []string{"MessageHeader/Subject"}},
		{"SignerInfo missing", func(p *Package) { p.SignerInfo = SignerInfo{} }, []string{"MessageHeader/SignerInfo/FullName"}},
		{"DueDate 31 April", func(p *Package) { p.DueDate = "2015/04/31" }, []string{"MessageHeader/DueDate"}},
		{"Priority 5", func(p *Package) { p.OtherInfo.Priority = "5" }, []string{"MessageHeader/OtherInfo/Priority"}},
		{"PageAmount negative", func(p *Package) { p.OtherInfo.PageAmount = "-1" }, []string{"MessageHeader/OtherInfo/PageAmount"}},
		{"ResponseFor without DocumentId", func(p *Package) { p.ResponseFor[0].DocumentID = "" }, []string{"MessageHeader/ResponseFor[1]/DocumentId"}},
		{"ResponseFor bad date", func(p *Package) { p.ResponseFor[0].PromulgationDate = "01/09/2015" }, []string{"MessageHeader/ResponseFor[1]/PromulgationDate"}},
		{"SteeringType missing", func(p *Package) { p.SteeringType = "" }, []string{"MessageHeader/SteeringType"}},
		{"SteeringType 4", func(p *Package) { p.SteeringType = "4" }, []string{"MessageHeader/SteeringType"}},
		{"no TraceHeader", func(p *Package) { p.TraceHeaders = nil }, []string{"TraceHeaderList/TraceHeader"}},
		{"TraceHeader without OrganId", func(p *Package) { p.TraceHeaders[0].OrganID = "" }, []string{"TraceHeaderList/TraceHeader[1]/OrganId"}},
		{"Timestamp missing", func(p *Package) { p.TraceHeaders[0].Timestamp = "" }, []string{"TraceHeaderList/TraceHeader[1]/Timestamp"}},
		{"Timestamp hour 24", func(p *Package) { p.TraceHeaders[0].Timestamp = "2015/09/30 24:00:00" }, []string{"TraceHeaderList/TraceHeader[1]/Timestamp"}},
		{"Timestamp 29 Feb 2015", func(p *Package) { p.TraceHeaders[0].Timestamp = "2015/02/29 10:00:00" }, []string{"TraceHeaderList/TraceHeader[1]/Timestamp"}},
		{"Timestamp date only", func(p *Package) { p.TraceHeaders[0].Timestamp = "2015/09/30" }, []string{"TraceHeaderList/TraceHeader[1]/Timestamp"}},
		{"Timestamp ISO", func(p *Package) { p.TraceHeaders[0].Timestamp = "2015-09-30T10:00:00" }, []string{"TraceHeaderList/TraceHeader[1]/Timestamp"}},
		{"BussinessDocType 4", func(p *Package) { p.Business.DocType = "4" }, []string{"TraceHeaderList/Bussiness/BussinessDocType"}},
		{"BussinessDocType missing", func(p *Package) { p.Business.DocType = "" }, []string{"TraceHeaderList/Bussiness/BussinessDocType"}},
		{"Bussiness/DocumentId bad date", func(p *Package) { p.Business.DocumentID = "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT" }, []string{"TraceHeaderList/Bussiness/DocumentId"}},
		{"revoke without any target", func(p *Package) { p.Business.DocType = "1"; p.DocumentID = "" }, []string{"MessageHeader/DocumentId", "TraceHeaderList/Bussiness/DocumentId"}},
		{"ReceiverType 2", func(p *Package) {
			p.Business = fullBusiness()
			p.Business.DocumentInfo.Receivers[1].ReceiverType = "2"
		}, []string{"TraceHeaderList/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[2]/ReceiverType"}},
		{"Receiver without OrganId", func(p *Package) {
			p.Business = fullBusiness()
			p.Business.DocumentInfo.Receivers[0].OrganID = ""
		}, []string{"TraceHeaderList/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[1]/OrganId"}},
		{"ReplacementInfo bad DocumentId", func(p *Package) {
			p.Business = fullBusiness()
			p.Business.Replacements[0].DocumentID = "x"
		}, []string{"TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo[1]/DocumentId"}},
		{"reference without attachment", func(p *Package) {
			p.References = append(p.References, Reference{ContentID: "cid:210"})
		}, []string{"edXMLManifest/Reference[2]/ContentId"}},
		{"attachment without reference", func(p *Package) {
			p.Attachments = append(p.Attachments, Attachment{ContentID: "cid:211", Content: "QQ=="})
		}, []string{"AttachmentEncoded/Attachment[2]/ContentId"}},
		{"ContentId without cid:", func(p *Package) {
			p.References[0].ContentID, p.Attachments[0].ContentID = "209", "209"
		}, []string{"edXMLManifest/Reference[1]/ContentId", "AttachmentEncoded/Attachment[1]/ContentId"}},
		{"ContentId bare cid:", func(p *Package) {
			p.References[0].ContentID, p.Attachments[0].ContentID = "cid:", "cid:"
		}, []string{"edXMLManifest/Reference[1]/ContentId", "AttachmentEncoded/Attachment[1]/ContentId"}},
		{"ContentId missing", func(p *Package) { p.Attachments[0].ContentID = "" }, []string{"AttachmentEncoded/Attachment[1]/ContentId", "edXMLManifest/Reference[1]/ContentId"}},
		{"reference twice", func(p *Package) { p.References = append(p.References, p.References[0]) }, []string{"edXMLManifest/Reference[2]/ContentId"}},
		{"attachment twice", func(p *Package) { p.Attachments = append(p.Attachments, p.Attachments[0]) }, []string{"AttachmentEncoded/Attachment[2]/ContentId"}},
		{"base64 illegal character", func(p *Package) { p.Attachments[0].Content = "${__StringFromFile(test.txt,,,)}" }, []string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded"}},
		{"base64 bad length", func(p *Package) { p.Attachments[0].Content = "QUJDR" }, []string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded"}},
		{"base64 data after padding", func(p *Package) { p.Attachments[0].Content = "QQ==QUJD" }, []string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded"}},
		{"base64 url alphabet", func(p *Package) { p.Attachments[0].Content = "-_-_" }, []string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded"}},
		{"base64 unpadded", func(p *Package) { p.Attachments[0].Content = "QQ" }, []string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPackage()
			c.mutate(p)
			ps := p.Problems()
			for _, e := range ps {
				if e.Code != errs.InvalidEnvelope || e.Msg == "" {
					t.Errorf("problem %v: want invalid_envelope with a message", e)
				}
			}
			if got := strings.Join(fieldsOf(ps), " | "); got != strings.Join(c.fields, " | ") {
				t.Errorf("problems at %q, want %q (%v)", got, strings.Join(c.fields, " | "), ps)
			}
			err := p.Validate()
			if (err == nil) != (len(c.fields) == 0) {
				t.Errorf("Validate() = %v", err)
			}
			if err != nil && (errs.CodeOf(err) != errs.InvalidEnvelope || err.(*errs.Error).Field != c.fields[0]) {
				t.Errorf("Validate() = %v, want the first problem", err)
			}
		})
	}
}

func TestStatusValidation(t *testing.T) {
	for _, code := range []string{"01", "02", "03", "04", "05", "06", "13", "15", "16"} {
		if _, ok := StatusMeaning(code); !ok {
			t.Errorf("StatusMeaning(%s) unknown", code)
		}
		s := validStatus()
		s.StatusCode = code
		if err := s.Validate(); err != nil {
			t.Errorf("code %s: %v", code, err)
		}
	}
	cases := []struct {
		name   string
		mutate func(s *Status)
		fields []string
	}{
		{"valid without optionals", func(s *Status) {
			s.Description, s.Staff, s.ResponseFor.OrganID, s.ResponseFor.Code, s.ResponseFor.PromulgationDate = "", nil, "", "", ""
		}, nil},
		{"ResponseFor/DocumentId missing", func(s *Status) { s.ResponseFor = ResponseFor{} }, []string{"MessageHeader/ResponseFor/DocumentId"}},
		{"ResponseFor/DocumentId bad", func(s *Status) { s.ResponseFor.DocumentID = "abc" }, []string{"MessageHeader/ResponseFor/DocumentId"}},
		{"ResponseFor/PromulgationDate bad", func(s *Status) { s.ResponseFor.PromulgationDate = "2015/02/30" }, []string{"MessageHeader/ResponseFor/PromulgationDate"}},
		{"From missing", func(s *Status) { s.From = Organization{} }, []string{"MessageHeader/From/OrganId"}},
		{"StatusCode missing", func(s *Status) { s.StatusCode = "" }, []string{"MessageHeader/StatusCode"}},
		{"StatusCode 07", func(s *Status) { s.StatusCode = "07" }, []string{"MessageHeader/StatusCode"}},
		{"StatusCode 1", func(s *Status) { s.StatusCode = "1" }, []string{"MessageHeader/StatusCode"}},
		{"StatusCode 14", func(s *Status) { s.StatusCode = "14" }, []string{"MessageHeader/StatusCode"}},
		{"Timestamp missing", func(s *Status) { s.Timestamp = "" }, []string{"MessageHeader/Timestamp"}},
		{"Timestamp bad second", func(s *Status) { s.Timestamp = "2015/10/01 08:30:60" }, []string{"MessageHeader/Timestamp"}},
		{"everything missing", func(s *Status) { *s = Status{} }, []string{
			"MessageHeader/ResponseFor/DocumentId", "MessageHeader/From/OrganId", "MessageHeader/StatusCode", "MessageHeader/Timestamp"}},
	}
	for _, c := range cases {
		s := validStatus()
		c.mutate(s)
		if got := strings.Join(fieldsOf(s.Problems()), " | "); got != strings.Join(c.fields, " | ") {
			t.Errorf("%s: problems at %q, want %q", c.name, got, strings.Join(c.fields, " | "))
		}
	}
}

func TestParseDocumentID(t *testing.T) {
	cases := []struct {
		in   string
		want DocumentID
		ok   bool
	}{
		{"000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", DocumentID{"000.00.00.G22", "2015/09/30", "7816", "VPCP-TTĐT"}, true},
		{"000.00.00.G12,2019/12/31,12/2019/TT-BTC", DocumentID{"000.00.00.G12", "2019/12/31", "12", "2019/TT-BTC"}, true},
		{"28.22.H17,2016/02/29,1/QĐ-UBND", DocumentID{"28.22.H17", "2016/02/29", "1", "QĐ-UBND"}, true},
		{"A,2015/09/30,1/X,Y", DocumentID{"A", "2015/09/30", "1", "X,Y"}, true},
		{"", DocumentID{}, false},
		{"000.00.00.G22", DocumentID{}, false},
		{"000.00.00.G22,2015/09/30", DocumentID{}, false},
		{",2015/09/30,1/X", DocumentID{}, false},
		{"0 0,2015/09/30,1/X", DocumentID{}, false},
		{"A,2015/9/30,1/X", DocumentID{}, false},
		{"A,2015/02/29,1/X", DocumentID{}, false},
		{"A,2015/09/30 ,1/X", DocumentID{}, false},
		{"A,2015/09/30,1", DocumentID{}, false},
		{"A,2015/09/30,1/", DocumentID{}, false},
		{"A,2015/09/30,/X", DocumentID{}, false},
		{"A,2015/09/30, 1/X", DocumentID{}, false},
	}
	for _, c := range cases {
		got, err := ParseDocumentID(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDocumentID(%q) = %+v, %v", c.in, got, err)
			continue
		}
		if err != nil && !errs.Is(err, errs.InvalidEnvelope) {
			t.Errorf("ParseDocumentID(%q) error %v without invalid_envelope", c.in, err)
		}
		if c.ok && got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
}

func TestParseOrganID(t *testing.T) {
	for in, ok := range map[string]bool{
		"000.00.00.G22": true, "000.00.13.H53": true, "000.21.32.H53": true, "777.77.04.D77": true,
		"28.22.H17": false, "01.02.G22": false, "000.00.00.g22": false, "000.00.00.G2": false,
		"000.00.00.G222": false, "000.00.00.22G": false, "0000.00.00.G22": false, "000.0a.00.G22": false,
		"": false, "000.00.00.G22.": false, " 000.00.00.G22": false, "000.00.00": false,
	} {
		id, got := ParseOrganID(in)
		if got != ok {
			t.Errorf("ParseOrganID(%q) = %v", in, got)
		}
		if ok && id.String() != in {
			t.Errorf("String() = %q", id.String())
		}
	}
	id, _ := ParseOrganID("000.21.32.H53")
	if id != (OrganID{L4: "000", L3: "21", L2: "32", L1: "H53"}) {
		t.Errorf("levels %+v", id)
	}
}

func TestDatesAndTimestamps(t *testing.T) {
	tm, err := ParseTimestamp("2015/09/30 16:35:56")
	if err != nil || tm.UTC().Format("2006-01-02T15:04:05") != "2015-09-30T09:35:56" {
		t.Errorf("ParseTimestamp: %v %v (Vietnam is UTC+7)", tm, err)
	}
	if FormatTimestamp(tm.UTC()) != "2015/09/30 16:35:56" || FormatDate(tm) != "2015/09/30" {
		t.Errorf("Format: %q %q", FormatTimestamp(tm), FormatDate(tm))
	}
	for _, s := range []string{"2015/09/30 16:35", "2015/09/30T16:35:56", "2015/09/30 16:35:56Z", "2015/09/31 00:00:00", "2015/09/30 16:60:00"} {
		if _, err := ParseTimestamp(s); !errs.Is(err, errs.InvalidEnvelope) {
			t.Errorf("ParseTimestamp(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"2000/02/29", "2024/02/29", "1999/12/31"} {
		if _, err := ParseDate(s); err != nil {
			t.Errorf("ParseDate(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"1900/02/29", "2023/02/29", "2015/00/10", "2015/01/00", "15/01/01", "２０１５/01/01", "2015/01/01 "} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
}

// checkBase64 (allocation-free, whitespace-tolerant) must agree exactly with decoding the
// whitespace-stripped text with the standard library.
func TestBase64AgreesWithStdlib(t *testing.T) {
	inputs := []string{"", "QQ==", "QUI=", "QUJD", "QUJDRA==", "Q Q = =", "QQ=\n=", "QQ", "Q===", "====", "QUJD=", "QQ==QQ==",
		"QR==", "QUJ\x00", "QUJD\r\n", "\tQUJD", "ＱＱ==", "QQ=A", "A===", "AB=C",
		"QUJDRA+/QUJDRA+/\nQUJDRA==", "QUJDRA+/QUJDRA+!QUJD", "QUJDRA+/QUJDRA==QUJDRA+/", "QUJDRA+/QUJDRA+/Q", "QUJDRA==QUJDRA+/QUJDRA+/"}
	for _, s := range inputs {
		_, stdErr := base64.StdEncoding.DecodeString(stripSpace(s))
		if got := checkBase64(s); (got == nil) != (stdErr == nil) {
			t.Errorf("%q: checkBase64 %v, stdlib %v", s, got, stdErr)
		}
	}
	long := strings.Repeat("QUJD\n", 1000)
	if testing.AllocsPerRun(10, func() { _ = checkBase64(long) }) != 0 {
		t.Error("checkBase64 allocates")
	}
}

func TestAttachmentDecode(t *testing.T) {
	raw := []byte("Văn bản đính kèm \x00\x01\xff")
	a := Attachment{ContentID: "cid:1", Content: wrap64(base64.StdEncoding.EncodeToString(raw), 4)}
	got, err := a.Decode()
	if err != nil || string(got) != string(raw) || a.DecodedLen() != len(raw) {
		t.Errorf("Decode = %q, %v; DecodedLen %d", got, err, a.DecodedLen())
	}
	a.Content = "not base64!"
	if _, err := a.Decode(); !errs.Is(err, errs.InvalidEnvelope) || a.DecodedLen() != -1 {
		t.Errorf("Decode(bad) = %v, DecodedLen %d", err, a.DecodedLen())
	}
}
