package envelope

import (
	"bytes"

	"github.com/beevik/etree"
)

// prefix used for every element written below the root. The root carries both the default
// namespace and xmlns:edXML, as the field samples do, so that readers matching either by
// namespace (correct) or by the customary prefix find what they expect.
const prefix = "edXML"

type builder struct{}

func (builder) el(parent *etree.Element, local string) *etree.Element {
	return parent.CreateElement(prefix + ":" + local)
}

// leaf writes <local>text</local> unless text is empty (empty means absent).
func (b builder) leaf(parent *etree.Element, local, text string) {
	if text != "" {
		b.el(parent, local).SetText(text)
	}
}

func (b builder) skeleton() (doc *etree.Document, root, env, header *etree.Element) {
	doc = etree.NewDocument()
	doc.WriteSettings.CanonicalText = true // writes CR as &#xD; so that it survives a re-read
	// Writes tab, LF and CR in an attribute value as references: written literally they
	// would read back as spaces (XML 1.0 §3.3.3).
	doc.WriteSettings.CanonicalAttrVal = true
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root = doc.CreateElement("edXML")
	root.CreateAttr("xmlns", NS)
	root.CreateAttr("xmlns:"+prefix, NS)
	env = b.el(root, "edXMLEnvelope")
	header = b.el(env, "edXMLHeader")
	return
}

func finish(doc *etree.Document) *etree.Document {
	doc.Indent(2)
	return doc
}

func toBytes(doc *etree.Document) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Build writes p as an edXML document: edXML/edXMLEnvelope/edXMLHeader/(MessageHeader,
// TraceHeaderList), edXMLBody/edXMLManifest, then AttachmentEncoded. A signer appends its
// Signature as the last child of edXMLHeader (see Header). Empty fields are left out;
// characters XML cannot carry (control characters) are written as U+FFFD.
func (p *Package) Build() *etree.Document {
	var b builder
	doc, root, env, header := b.skeleton()
	mh := b.el(header, "MessageHeader")
	b.organization(mh, "From", p.From, false)
	for _, t := range p.To {
		b.organization(mh, "To", t, true)
	}
	b.leaf(mh, "DocumentId", p.DocumentID)
	if p.Code != (Code{}) {
		c := b.el(mh, "Code")
		b.leaf(c, "CodeNumber", p.Code.CodeNumber)
		b.leaf(c, "CodeNotation", p.Code.CodeNotation)
	}
	if p.PromulgationInfo != (PromulgationInfo{}) {
		c := b.el(mh, "PromulgationInfo")
		b.leaf(c, "Place", p.PromulgationInfo.Place)
		b.leaf(c, "PromulgationDate", p.PromulgationInfo.PromulgationDate)
	}
	if p.DocumentType != (DocumentType{}) {
		c := b.el(mh, "DocumentType")
		b.leaf(c, "Type", p.DocumentType.Type)
		b.leaf(c, "TypeDetail", p.DocumentType.TypeDetail)
		b.leaf(c, "TypeName", p.DocumentType.TypeName)
	}
	b.leaf(mh, "Subject", p.Subject)
	b.leaf(mh, "Content", p.Content)
	if p.SignerInfo != (SignerInfo{}) {
		c := b.el(mh, "SignerInfo")
		b.leaf(c, "Competence", p.SignerInfo.Competence)
		b.leaf(c, "Position", p.SignerInfo.Position)
		b.leaf(c, "FullName", p.SignerInfo.FullName)
	}
	b.leaf(mh, "DueDate", p.DueDate)
	if len(p.ToPlaces) > 0 {
		c := b.el(mh, "ToPlaces")
		for _, pl := range p.ToPlaces {
			b.el(c, "Place").SetText(pl)
		}
	}
	if o := p.OtherInfo; o != nil {
		c := b.el(mh, "OtherInfo")
		b.leaf(c, "Priority", o.Priority)
		b.leaf(c, "SphereOfPromulgation", o.SphereOfPromulgation)
		b.leaf(c, "TyperNotation", o.TyperNotation)
		b.leaf(c, "PromulgationAmount", o.PromulgationAmount)
		b.leaf(c, "PageAmount", o.PageAmount)
		b.leaf(c, "Direction", o.Direction)
		if len(o.Appendixes) > 0 {
			a := b.el(c, "Appendixes")
			for _, s := range o.Appendixes {
				b.el(a, "Appendix").SetText(s)
			}
		}
	}
	for _, r := range p.ResponseFor {
		b.responseFor(mh, r)
	}
	b.leaf(mh, "SteeringType", p.SteeringType)

	if len(p.TraceHeaders) > 0 || p.Business != nil {
		tl := b.el(header, "TraceHeaderList")
		for _, th := range p.TraceHeaders {
			c := b.el(tl, "TraceHeader")
			b.leaf(c, "OrganId", th.OrganID)
			b.leaf(c, "Timestamp", th.Timestamp)
		}
		if bu := p.Business; bu != nil {
			b.business(tl, bu)
		}
	}

	m := b.el(b.el(env, "edXMLBody"), "edXMLManifest")
	if p.ManifestVersion != "" {
		m.CreateAttr("version", p.ManifestVersion)
	}
	for _, r := range p.References {
		c := b.el(m, "Reference")
		b.leaf(c, "ContentId", r.ContentID)
		b.leaf(c, "ContentType", r.ContentType)
		b.leaf(c, "Description", r.Description)
		b.leaf(c, "AttachmentName", r.AttachmentName)
	}
	if len(p.Attachments) > 0 {
		ae := b.el(root, "AttachmentEncoded")
		for _, a := range p.Attachments {
			c := b.el(ae, "Attachment")
			b.leaf(c, "ContentId", a.ContentID)
			b.leaf(c, "AttachmentName", a.AttachmentName)
			b.leaf(c, "Description", a.Description)
			b.leaf(c, "ContentType", a.ContentType)
			b.leaf(c, "ContentTransferEncoded", a.Content)
		}
	}
	return finish(doc)
}

// Bytes is Build serialized (UTF-8, with an XML declaration).
func (p *Package) Bytes() ([]byte, error) { return toBytes(p.Build()) }

// organization writes an agency; a zero From is absent, but every To is kept so that the
// recipient count survives a round trip.
func (b builder) organization(parent *etree.Element, local string, o Organization, always bool) {
	if !always && o == (Organization{}) {
		return
	}
	c := b.el(parent, local)
	b.leaf(c, "OrganId", o.OrganID)
	b.leaf(c, "OrganizationInCharge", o.OrganizationInCharge)
	b.leaf(c, "OrganName", o.OrganName)
	b.leaf(c, "OrganAdd", o.OrganAdd)
	b.leaf(c, "Email", o.Email)
	b.leaf(c, "Telephone", o.Telephone)
	b.leaf(c, "Fax", o.Fax)
	b.leaf(c, "Website", o.Website)
}

func (b builder) responseFor(parent *etree.Element, r ResponseFor) {
	c := b.el(parent, "ResponseFor")
	b.leaf(c, "OrganId", r.OrganID)
	b.leaf(c, "Code", r.Code)
	b.leaf(c, "PromulgationDate", r.PromulgationDate)
	b.leaf(c, "DocumentId", r.DocumentID)
}

func (b builder) staff(parent *etree.Element, s *StaffInfo) {
	if s == nil {
		return
	}
	c := b.el(parent, "StaffInfo")
	b.leaf(c, "Department", s.Department)
	b.leaf(c, "Staff", s.Staff)
	b.leaf(c, "Mobile", s.Mobile)
	b.leaf(c, "Email", s.Email)
}

func (b builder) business(parent *etree.Element, bu *Business) {
	c := b.el(parent, "Bussiness")
	b.leaf(c, "BussinessDocType", bu.DocType)
	b.leaf(c, "BussinessDocReason", bu.DocReason)
	b.leaf(c, "DocumentId", bu.DocumentID)
	b.leaf(c, "Paper", bu.Paper)
	if bi := bu.DocumentInfo; bi != nil {
		d := b.el(c, "BussinessDocumentInfo")
		b.leaf(d, "DocumentInfo", bi.DocumentInfo)
		b.leaf(d, "DocumentReceiver", bi.DocumentReceiver)
		if len(bi.Receivers) > 0 {
			rl := b.el(d, "ReceiverList")
			for _, r := range bi.Receivers {
				e := b.el(rl, "Receiver")
				b.leaf(e, "OrganId", r.OrganID)
				b.leaf(e, "ReceiverType", r.ReceiverType)
			}
		}
	}
	b.staff(c, bu.Staff)
	if len(bu.Replacements) > 0 {
		rl := b.el(c, "ReplacementInfoList")
		for _, r := range bu.Replacements {
			e := b.el(rl, "ReplacementInfo")
			b.leaf(e, "DocumentId", r.DocumentID)
			if len(r.OrganIDs) > 0 {
				ol := b.el(e, "OrganIdList")
				for _, id := range r.OrganIDs {
					b.el(ol, "OrganId").SetText(id)
				}
			}
		}
	}
}

// Build writes s as an edXML status message (edXML/edXMLEnvelope/edXMLHeader/MessageHeader).
// A signer appends its Signature as the last child of edXMLHeader.
func (s *Status) Build() *etree.Document {
	var b builder
	doc, _, _, header := b.skeleton()
	mh := b.el(header, "MessageHeader")
	b.responseFor(mh, s.ResponseFor)
	b.organization(mh, "From", s.From, false)
	b.staff(mh, s.Staff)
	// StatusCode is written even when empty: it is what makes this a status message.
	b.el(mh, "StatusCode").SetText(s.StatusCode)
	b.leaf(mh, "Description", s.Description)
	b.leaf(mh, "Timestamp", s.Timestamp)
	return finish(doc)
}

// Bytes is Build serialized (UTF-8, with an XML declaration).
func (s *Status) Bytes() ([]byte, error) { return toBytes(s.Build()) }
