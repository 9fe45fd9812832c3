package client

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteTimeline(t *testing.T) {
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	doc := Document{
		DocumentID: "000.00.00.G22,2026/11/22,1234/NĐ-CP", From: "000.00.00.G22", Subject: "Nghị định",
		CodeNumber: "1234", CodeNotation: "NĐ-CP", DocTypeName: "Nghị định", SHA256: strings.Repeat("ab", 32), Size: 5595,
		AcceptedAt: at, AuditSeq: 1,
		Recipients: []Delivery{{OrganID: "000.00.00.H41", State: "processing", Recall: "requested", ArrivedAt: at.Add(time.Second),
			History: []HistoryEntry{
				{Time: at, Kind: "published", AuditSeq: 2},
				{Time: at.Add(time.Second), Kind: "status", From: "000.00.00.H41", Code: "01", Description: "arrived", AuditSeq: 5},
				{Time: at.Add(2 * time.Second), Kind: "status", From: "000.00.00.H41", Code: "05", Description: "Đang xử lý", AuditSeq: 7},
			}}},
		Revisions: []Ref{{DocumentID: "000.00.00.G22,2026/11/23,1235/NĐ-CP", From: "000.00.00.G22", BusinessType: 2, SHA256: "cd", AcceptedAt: at}},
		Receipt: `<?xml version="1.0"?><AcceptanceReceipt xmlns="urn:axis:receipt:1"><DocumentId>D</DocumentId><From>F</From>` +
			`<SHA256>` + strings.Repeat("ab", 32) + `</SHA256><AcceptedAt>2026-11-22T08:00:00Z</AcceptedAt><AuditSeq>1</AuditSeq>` +
			`<Recipients><OrganId>A</OrganId><OrganId>B</OrganId></Recipients><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></AcceptanceReceipt>`,
	}
	var b bytes.Buffer
	if err := WriteTimeline(&b, doc); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"000.00.00.G22,2026/11/22,1234/NĐ-CP\n",
		"  code       1234/NĐ-CP (Nghị định)\n",
		"  accepted   2026-11-22 15:00:00.000 +07 (audit seq 1)\n",
		"  000.00.00.H41    processing, recall requested, arrived 2026-11-22 15:00:01.000 +07\n",
		"published to the inbox", "01 arrived by 000.00.00.H41 ", "05 processing by 000.00.00.H41: Đang xử lý",
		"revisions (1):\n  update 000.00.00.G22,2026/11/23,1235/NĐ-CP",
		"receipt    signed by the axis: D accepted at 2026-11-22T08:00:00Z, audit seq 1, sha256 abababababab…, 2 recipients\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestParseReceipt(t *testing.T) {
	for _, bad := range []string{"", "<x/>", "<AcceptanceReceipt>"} {
		if _, err := ParseReceipt(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	r, err := ParseReceipt(`<AcceptanceReceipt><AuditSeq>3</AuditSeq></AcceptanceReceipt>`)
	if err != nil || r.AuditSeq != "3" || r.Signed {
		t.Fatalf("%+v %v", r, err)
	}
}

func FuzzParseReceipt(f *testing.F) {
	f.Add(`<AcceptanceReceipt xmlns="urn:axis:receipt:1"><DocumentId>D</DocumentId><Recipients><OrganId>A</OrganId></Recipients></AcceptanceReceipt>`)
	f.Add(`<AcceptanceReceipt><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></AcceptanceReceipt>`)
	f.Add("<a")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceipt(s)
		if err == nil {
			var b bytes.Buffer
			if werr := WriteTimeline(&b, Document{Receipt: s}); werr != nil {
				t.Fatal(werr)
			}
			_ = r
		}
	})
}
