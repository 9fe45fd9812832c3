package envelope

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// Kind tells a document package from a status message.
type Kind int

// Kinds of edXML message.
const (
	KindUnknown Kind = iota
	KindPackage
	KindStatus
)

// String is the name used in the axis-type Kafka header: "edoc" or "status".
func (k Kind) String() string {
	switch k {
	case KindPackage:
		return "edoc"
	case KindStatus:
		return "status"
	}
	return "unknown"
}

// KindOf tells what root holds: a status message has a StatusCode in its MessageHeader,
// anything else with the edXML skeleton is a package.
func KindOf(root *etree.Element) (Kind, error) {
	mh, err := messageHeader(root)
	if err != nil {
		return KindUnknown, err
	}
	for _, t := range mh.Child {
		if c, ok := t.(*etree.Element); ok && c.Tag == "StatusCode" && c.NamespaceURI() == NS {
			return KindStatus, nil
		}
	}
	return KindPackage, nil
}

// ParsePackage reads b with the default limits and decodes a package (not validated).
func ParsePackage(b []byte) (*Package, error) {
	doc, err := ReadDocument(b, DefaultLimits())
	if err != nil {
		return nil, err
	}
	return DecodePackage(doc.Root())
}

// ParseStatus reads b with the default limits and decodes a status (not validated).
func ParseStatus(b []byte) (*Status, error) {
	doc, err := ReadDocument(b, DefaultLimits())
	if err != nil {
		return nil, err
	}
	return DecodeStatus(doc.Root())
}

func isEd(e *etree.Element, local string) bool {
	return e != nil && e.Tag == local && e.NamespaceURI() == NS
}

// Header returns root's edXMLEnvelope/edXMLHeader, the element a signer appends its
// Signature to, or nil.
func Header(root *etree.Element) *etree.Element {
	if !isEd(root, "edXML") {
		return nil
	}
	env := firstEd(root, "edXMLEnvelope")
	if env == nil {
		return nil
	}
	return firstEd(env, "edXMLHeader")
}

func firstEd(e *etree.Element, local string) *etree.Element {
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok && isEd(c, local) {
			return c
		}
	}
	return nil
}

// skeleton finds the envelope elements, insisting each appears once.
func skeleton(root *etree.Element) (env, header, mh *etree.Element, err error) {
	if root == nil {
		return nil, nil, nil, errs.Field(errs.InvalidEnvelope, "edXML", "no root element")
	}
	if !isEd(root, "edXML") {
		return nil, nil, nil, errs.Field(errs.InvalidEnvelope, "edXML",
			"root element is {%s}%s, want {%s}edXML", root.NamespaceURI(), root.Tag, NS)
	}
	one := func(parent *etree.Element, local, path string) (*etree.Element, error) {
		var found *etree.Element
		for _, t := range parent.Child {
			c, ok := t.(*etree.Element)
			if !ok || !isEd(c, local) {
				continue
			}
			if found != nil {
				return nil, errs.Field(errs.InvalidEnvelope, path, "appears more than once")
			}
			found = c
		}
		if found == nil {
			return nil, errs.Field(errs.InvalidEnvelope, path, "required")
		}
		return found, nil
	}
	if env, err = one(root, "edXMLEnvelope", "edXMLEnvelope"); err != nil {
		return
	}
	if header, err = one(env, "edXMLHeader", "edXMLEnvelope/edXMLHeader"); err != nil {
		return
	}
	mh, err = one(header, "MessageHeader", "MessageHeader")
	return
}

func messageHeader(root *etree.Element) (*etree.Element, error) {
	_, _, mh, err := skeleton(root)
	return mh, err
}

// decoder reads edXML elements into values, keeping the first structural error.
type decoder struct{ err error }

func (d *decoder) fail(path, format string, args ...any) {
	if d.err == nil {
		d.err = errs.Field(errs.InvalidEnvelope, path, format, args...)
	}
}

// onceSet reports elements that the standard allows at most once. No element of edXML
// has more than 12 distinct singular children, so the array never spills in practice.
type onceSet struct {
	names [12]string
	n     int
	more  []string
}

func (d *decoder) once(s *onceSet, local, parent string) bool {
	if contains(s.names[:s.n], local) || contains(s.more, local) {
		d.fail(join(parent, local), "appears more than once")
		return false
	}
	if s.n < len(s.names) {
		s.names[s.n] = local
		s.n++
	} else {
		s.more = append(s.more, local)
	}
	return true
}

// each calls fn for every edXML child element of e, with its path.
func (d *decoder) each(e *etree.Element, path string, fn func(local, parent string, c *etree.Element)) {
	var eURI string // e's namespace, looked up once: most children share e's prefix
	eURIKnown := false
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if d.err != nil {
			return
		}
		var uri string
		if c.Space == e.Space && !declares(c, c.Space) {
			// etree resolves c's prefix on c, then on its parent e, exactly as for e.
			if !eURIKnown {
				eURI, eURIKnown = e.NamespaceURI(), true
			}
			uri = eURI
		} else {
			uri = c.NamespaceURI()
		}
		if uri != NS {
			continue // foreign elements (ds:Signature, extensions) are not ours to read
		}
		fn(c.Tag, path, c)
	}
}

// declares reports whether el itself binds prefix ("" for the default namespace), the
// test etree's NamespaceURI makes on each element on the way up.
func declares(el *etree.Element, prefix string) bool {
	for _, a := range el.Attr {
		if prefix == "" && a.Space == "" && a.Key == "xmlns" || prefix != "" && a.Space == "xmlns" && a.Key == prefix {
			return true
		}
	}
	return false
}

// text reads a leaf: all its character data (CDATA included, comments skipped), trimmed
// of XML whitespace. A leaf holding elements is a structural error: reading only part of
// it would let two readers disagree on its value.
func (d *decoder) text(c *etree.Element, parent, local string) string {
	var s string
	var b *strings.Builder // only when the text comes in several pieces (comments, CDATA)
	for _, t := range c.Child {
		switch t := t.(type) {
		case *etree.CharData:
			switch {
			case b != nil:
				b.WriteString(t.Data)
			case s == "":
				s = t.Data
			default:
				b = &strings.Builder{}
				b.WriteString(s)
				b.WriteString(t.Data)
			}
		case *etree.Element:
			d.fail(join(parent, local), "must hold text, not elements")
			return ""
		}
	}
	if b != nil {
		s = b.String()
	}
	return trimXMLSpace(s)
}

// trimXMLSpace is strings.Trim(s, xmlSpace) without building the cutset on every call.
func trimXMLSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpaceByte(s[i]) {
		i++
	}
	for j > i && isSpaceByte(s[j-1]) {
		j--
	}
	return s[i:j]
}

const xmlSpace = " \t\r\n"

// leaf stores a singular text child in *dst.
func (d *decoder) leaf(s *onceSet, local, parent string, c *etree.Element, dst *string) {
	if d.once(s, local, parent) {
		*dst = d.text(c, parent, local)
	}
}

// DecodePackage decodes the package in an edXML root element, reading nothing outside it.
// It fails only on structure (not edXML, a status, an element repeated that may appear
// once, a text field holding elements); field values are checked by Validate.
func DecodePackage(root *etree.Element) (*Package, error) {
	env, header, mh, err := skeleton(root)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	p := &Package{}
	if isStatus := d.packageHeader(mh, p); d.err == nil && isStatus {
		return nil, errs.Field(errs.InvalidEnvelope, "MessageHeader/StatusCode", "this is a status message, not a document package")
	}
	var hs onceSet
	d.each(header, "", func(local, parent string, c *etree.Element) {
		if local == "TraceHeaderList" && d.once(&hs, local, "") {
			d.traceHeaderList(c, "TraceHeaderList", p)
		}
	})
	var es onceSet
	d.each(env, "", func(local, parent string, c *etree.Element) {
		if local == "edXMLBody" && d.once(&es, local, "") {
			var bs onceSet
			d.each(c, "", func(local, parent string, m *etree.Element) {
				if local == "edXMLManifest" && d.once(&bs, local, "") {
					d.manifest(m, p)
				}
			})
		}
	})
	var rs onceSet
	d.each(root, "", func(local, parent string, c *etree.Element) {
		if local == "AttachmentEncoded" && d.once(&rs, local, "") {
			d.attachments(c, p)
		}
	})
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// packageHeader reads a package MessageHeader and reports whether it held a StatusCode.
func (d *decoder) packageHeader(mh *etree.Element, p *Package) (isStatus bool) {
	var s onceSet
	d.each(mh, "MessageHeader", func(local, parent string, c *etree.Element) {
		switch local {
		case "From":
			if d.once(&s, local, parent) {
				p.From = d.organization(c, join(parent, local))
			}
		case "To":
			p.To = append(p.To, d.organization(c, indexed(join(parent, local), len(p.To))))
		case "DocumentId":
			d.leaf(&s, local, parent, c, &p.DocumentID)
		case "Code":
			if d.once(&s, local, parent) {
				var cs onceSet
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					switch local {
					case "CodeNumber":
						d.leaf(&cs, local, parent, c, &p.Code.CodeNumber)
					case "CodeNotation":
						d.leaf(&cs, local, parent, c, &p.Code.CodeNotation)
					}
				})
			}
		case "PromulgationInfo":
			if d.once(&s, local, parent) {
				var ps onceSet
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					switch local {
					case "Place":
						d.leaf(&ps, local, parent, c, &p.PromulgationInfo.Place)
					case "PromulgationDate":
						d.leaf(&ps, local, parent, c, &p.PromulgationInfo.PromulgationDate)
					}
				})
			}
		case "DocumentType":
			if d.once(&s, local, parent) {
				var ts onceSet
				t := &p.DocumentType
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					switch local {
					case "Type":
						d.leaf(&ts, local, parent, c, &t.Type)
					case "TypeDetail":
						d.leaf(&ts, local, parent, c, &t.TypeDetail)
					case "TypeName":
						d.leaf(&ts, local, parent, c, &t.TypeName)
					}
				})
			}
		case "Subject":
			d.leaf(&s, local, parent, c, &p.Subject)
		case "Content":
			d.leaf(&s, local, parent, c, &p.Content)
		case "SignerInfo":
			if d.once(&s, local, parent) {
				var ss onceSet
				si := &p.SignerInfo
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					switch local {
					case "Competence":
						d.leaf(&ss, local, parent, c, &si.Competence)
					case "Position":
						d.leaf(&ss, local, parent, c, &si.Position)
					case "FullName":
						d.leaf(&ss, local, parent, c, &si.FullName)
					}
				})
			}
		case "DueDate":
			d.leaf(&s, local, parent, c, &p.DueDate)
		case "ToPlaces":
			if d.once(&s, local, parent) {
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					if local == "Place" {
						p.ToPlaces = append(p.ToPlaces, d.text(c, parent, local))
					}
				})
			}
		case "OtherInfo":
			if d.once(&s, local, parent) {
				p.OtherInfo = d.otherInfo(c, join(parent, local))
			}
		case "ResponseFor":
			p.ResponseFor = append(p.ResponseFor, d.responseFor(c, indexed(join(parent, local), len(p.ResponseFor))))
		case "SteeringType":
			d.leaf(&s, local, parent, c, &p.SteeringType)
		case "StatusCode":
			isStatus = true
		}
	})
	return isStatus
}

// join builds an element path only when it is needed (for an error or a container).
func join(parent, local string) string {
	if parent == "" {
		return local
	}
	return parent + "/" + local
}

// indexed names the i-th (0-based) repeated element in paths, 1-based like XPath.
func indexed(path string, i int) string { return path + "[" + strconv.Itoa(i+1) + "]" }

func (d *decoder) organization(e *etree.Element, path string) Organization {
	var o Organization
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		var dst *string
		switch local {
		case "OrganId":
			dst = &o.OrganID
		case "OrganizationInCharge":
			dst = &o.OrganizationInCharge
		case "OrganName":
			dst = &o.OrganName
		case "OrganAdd":
			dst = &o.OrganAdd
		case "Email":
			dst = &o.Email
		case "Telephone":
			dst = &o.Telephone
		case "Fax":
			dst = &o.Fax
		case "Website":
			dst = &o.Website
		default:
			return
		}
		d.leaf(&s, local, parent, c, dst)
	})
	return o
}

func (d *decoder) otherInfo(e *etree.Element, path string) *OtherInfo {
	o := &OtherInfo{}
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		var dst *string
		switch local {
		case "Priority":
			dst = &o.Priority
		case "SphereOfPromulgation":
			dst = &o.SphereOfPromulgation
		case "TyperNotation":
			dst = &o.TyperNotation
		case "PromulgationAmount":
			dst = &o.PromulgationAmount
		case "PageAmount":
			dst = &o.PageAmount
		case "Direction":
			dst = &o.Direction
		case "Appendixes":
			if d.once(&s, local, parent) {
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					if local == "Appendix" {
						o.Appendixes = append(o.Appendixes, d.text(c, parent, local))
					}
				})
			}
			return
		default:
			return
		}
		d.leaf(&s, local, parent, c, dst)
	})
	return o
}

func (d *decoder) responseFor(e *etree.Element, path string) ResponseFor {
	var r ResponseFor
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "OrganId":
			d.leaf(&s, local, parent, c, &r.OrganID)
		case "Code":
			d.leaf(&s, local, parent, c, &r.Code)
		case "PromulgationDate":
			d.leaf(&s, local, parent, c, &r.PromulgationDate)
		case "DocumentId":
			d.leaf(&s, local, parent, c, &r.DocumentID)
		}
	})
	return r
}

func (d *decoder) staffInfo(e *etree.Element, path string) *StaffInfo {
	st := &StaffInfo{}
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "Department":
			d.leaf(&s, local, parent, c, &st.Department)
		case "Staff":
			d.leaf(&s, local, parent, c, &st.Staff)
		case "Mobile":
			d.leaf(&s, local, parent, c, &st.Mobile)
		case "Email":
			d.leaf(&s, local, parent, c, &st.Email)
		}
	})
	return st
}

func (d *decoder) traceHeaderList(e *etree.Element, path string, p *Package) {
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "TraceHeader":
			path := indexed(join(parent, local), len(p.TraceHeaders))
			var th TraceHeader
			var ts onceSet
			d.each(c, path, func(local, parent string, c *etree.Element) {
				switch local {
				case "OrganId":
					d.leaf(&ts, local, parent, c, &th.OrganID)
				case "Timestamp":
					d.leaf(&ts, local, parent, c, &th.Timestamp)
				}
			})
			p.TraceHeaders = append(p.TraceHeaders, th)
		case "Bussiness":
			if d.once(&s, local, parent) {
				p.Business = d.business(c, join(parent, local))
			}
		}
	})
}

func (d *decoder) business(e *etree.Element, path string) *Business {
	b := &Business{}
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "BussinessDocType":
			d.leaf(&s, local, parent, c, &b.DocType)
		case "BussinessDocReason":
			d.leaf(&s, local, parent, c, &b.DocReason)
		case "DocumentId":
			d.leaf(&s, local, parent, c, &b.DocumentID)
		case "Paper":
			d.leaf(&s, local, parent, c, &b.Paper)
		case "StaffInfo":
			if d.once(&s, local, parent) {
				b.Staff = d.staffInfo(c, join(parent, local))
			}
		case "BussinessDocumentInfo":
			if d.once(&s, local, parent) {
				b.DocumentInfo = d.businessDocumentInfo(c, join(parent, local))
			}
		case "ReplacementInfoList":
			if d.once(&s, local, parent) {
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					if local == "ReplacementInfo" {
						b.Replacements = append(b.Replacements, d.replacement(c, indexed(join(parent, local), len(b.Replacements))))
					}
				})
			}
		}
	})
	return b
}

func (d *decoder) businessDocumentInfo(e *etree.Element, path string) *BusinessDocumentInfo {
	bi := &BusinessDocumentInfo{}
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "DocumentInfo":
			d.leaf(&s, local, parent, c, &bi.DocumentInfo)
		case "DocumentReceiver":
			d.leaf(&s, local, parent, c, &bi.DocumentReceiver)
		case "ReceiverList":
			if d.once(&s, local, parent) {
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					if local != "Receiver" {
						return
					}
					path := indexed(join(parent, local), len(bi.Receivers))
					var r Receiver
					var rs onceSet
					d.each(c, path, func(local, parent string, c *etree.Element) {
						switch local {
						case "OrganId":
							d.leaf(&rs, local, parent, c, &r.OrganID)
						case "ReceiverType":
							d.leaf(&rs, local, parent, c, &r.ReceiverType)
						}
					})
					bi.Receivers = append(bi.Receivers, r)
				})
			}
		}
	})
	return bi
}

func (d *decoder) replacement(e *etree.Element, path string) ReplacementInfo {
	var r ReplacementInfo
	var s onceSet
	d.each(e, path, func(local, parent string, c *etree.Element) {
		switch local {
		case "DocumentId":
			d.leaf(&s, local, parent, c, &r.DocumentID)
		case "OrganIdList":
			if d.once(&s, local, parent) {
				d.each(c, join(parent, local), func(local, parent string, c *etree.Element) {
					if local == "OrganId" {
						r.OrganIDs = append(r.OrganIDs, d.text(c, parent, local))
					}
				})
			}
		}
	})
	return r
}

func (d *decoder) manifest(m *etree.Element, p *Package) {
	p.ManifestVersion = m.SelectAttrValue("version", "")
	d.each(m, "edXMLManifest", func(local, parent string, c *etree.Element) {
		if local != "Reference" {
			return
		}
		path := indexed(join(parent, local), len(p.References))
		var r Reference
		var s onceSet
		d.each(c, path, func(local, parent string, c *etree.Element) {
			switch local {
			case "ContentId":
				d.leaf(&s, local, parent, c, &r.ContentID)
			case "ContentType":
				d.leaf(&s, local, parent, c, &r.ContentType)
			case "Description":
				d.leaf(&s, local, parent, c, &r.Description)
			case "AttachmentName":
				d.leaf(&s, local, parent, c, &r.AttachmentName)
			}
		})
		p.References = append(p.References, r)
	})
}

func (d *decoder) attachments(e *etree.Element, p *Package) {
	d.each(e, "AttachmentEncoded", func(local, parent string, c *etree.Element) {
		if local != "Attachment" {
			return
		}
		path := indexed(join(parent, local), len(p.Attachments))
		var a Attachment
		var s onceSet
		d.each(c, path, func(local, parent string, c *etree.Element) {
			switch local {
			case "ContentId":
				d.leaf(&s, local, parent, c, &a.ContentID)
			case "AttachmentName":
				d.leaf(&s, local, parent, c, &a.AttachmentName)
			case "Description":
				d.leaf(&s, local, parent, c, &a.Description)
			case "ContentType":
				d.leaf(&s, local, parent, c, &a.ContentType)
			case "ContentTransferEncoded":
				d.leaf(&s, local, parent, c, &a.Content)
			}
		})
		p.Attachments = append(p.Attachments, a)
	})
}

// DecodeStatus decodes the status message in an edXML root element, reading nothing
// outside it. Like DecodePackage it fails only on structure.
func DecodeStatus(root *etree.Element) (*Status, error) {
	_, _, mh, err := skeleton(root)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	st := &Status{}
	var s onceSet
	sawCode := false
	d.each(mh, "MessageHeader", func(local, parent string, c *etree.Element) {
		switch local {
		case "ResponseFor":
			if d.once(&s, local, parent) {
				st.ResponseFor = d.responseFor(c, join(parent, local))
			}
		case "From":
			if d.once(&s, local, parent) {
				st.From = d.organization(c, join(parent, local))
			}
		case "StatusCode":
			sawCode = true
			d.leaf(&s, local, parent, c, &st.StatusCode)
		case "Description":
			d.leaf(&s, local, parent, c, &st.Description)
		case "Timestamp":
			d.leaf(&s, local, parent, c, &st.Timestamp)
		case "StaffInfo":
			if d.once(&s, local, parent) {
				st.Staff = d.staffInfo(c, join(parent, local))
			}
		}
	})
	if d.err != nil {
		return nil, d.err
	}
	if !sawCode {
		return nil, errs.Field(errs.InvalidEnvelope, "MessageHeader/StatusCode", "required (without it this is a document package, not a status)")
	}
	return st, nil
}
