package axis

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"axis/store"
)

// SPEC §3 accepts SHA-1 only under --allow-sha1, "recorded as legacy": a package
// accepted on an ECDSA-SHA1 signature says so in its document view and in its accepted
// audit event, so an auditor can find every acceptance that rests on SHA-1; a SHA-256
// one says nothing of the kind.
func TestLegacySHA1AcceptanceIsRecorded(t *testing.T) {
	h := startDaemon(t, func(c *Config, _ *Options) { c.AllowSHA1 = true })
	b, id := decree(t, 30)
	s := signer(t, govOffice)
	ctx, err := dsig.NewSigningContext(s.Key, [][]byte{s.Cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.ECDSASHA1SignatureMethod); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	sig, err := ctx.ConstructSignature(doc.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	doc.Root().FindElement("edXMLEnvelope/edXMLHeader").AddChild(sig)
	signed, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("ecdsa-sha1")) || !bytes.Contains(signed, []byte("xmldsig#sha1")) {
		t.Fatal("not a SHA-1 signature")
	}
	h.mustAccept(signed)
	modern, modernID := pkg(t, 31)
	h.mustAccept(modern)
	auditor := h.auditorToken()
	var legacy, plain store.Document
	h.do("GET", "/v1/documents/"+url.PathEscape(id), auditor, nil).json(t, &legacy)
	h.do("GET", "/v1/documents/"+url.PathEscape(modernID), auditor, nil).json(t, &plain)
	if !legacy.Legacy || plain.Legacy {
		t.Fatalf("document views: SHA-1 legacy=%v, SHA-256 legacy=%v", legacy.Legacy, plain.Legacy)
	}
	details := map[string]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(h.do("GET", "/v1/audit?from=1", auditor, nil).Body), []byte("\n")) {
		var rec struct {
			Event struct {
				Type       string `json:"type"`
				DocumentID string `json:"document_id"`
				Detail     string `json:"detail"`
			} `json:"event"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec.Event.Type == "accepted" {
			details[rec.Event.DocumentID] = rec.Event.Detail
		}
	}
	if details[id] != store.LegacyDetail || details[modernID] != "" {
		t.Fatalf("accepted events' details: %q", details)
	}
}
