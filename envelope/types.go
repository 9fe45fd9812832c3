// Package envelope knows edXML (QCVN 102:2016/BTTTT): it reads untrusted bytes safely
// (ReadDocument), decodes document packages and status messages from a verified edXML root
// element into Go values, validates them field by field, and builds them back into XML
// ready to be signed. It knows nothing of signatures, storage, Kafka or HTTP.
//
// Elements are matched by namespace and local name only, never by prefix or position: field
// documents vary in both. Text values are read with surrounding XML whitespace (space, tab,
// CR, LF) trimmed; an absent element and an empty one read the same ("").
package envelope

// NS is the namespace of every edXML element.
const NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

// ManifestVersion is the edXMLManifest version attribute used by QCVN 102:2016.
const ManifestVersion = "1.0"

// Organization is an agency as written in From and To.
type Organization struct {
	OrganID              string `json:"OrganId,omitempty"`
	OrganizationInCharge string `json:"OrganizationInCharge,omitempty"`
	OrganName            string `json:"OrganName,omitempty"`
	OrganAdd             string `json:"OrganAdd,omitempty"`
	Email                string `json:"Email,omitempty"`
	Telephone            string `json:"Telephone,omitempty"`
	Fax                  string `json:"Fax,omitempty"`
	Website              string `json:"Website,omitempty"`
}

// Code is the number and notation of a document (7816 / VPCP-TTĐT).
type Code struct {
	CodeNumber   string `json:"CodeNumber,omitempty"`
	CodeNotation string `json:"CodeNotation,omitempty"`
}

// PromulgationInfo says where and when a document was issued.
type PromulgationInfo struct {
	Place            string `json:"Place,omitempty"`
	PromulgationDate string `json:"PromulgationDate,omitempty"` // yyyy/MM/dd
}

// DocumentType is the kind of document (Type 1 = Công văn).
type DocumentType struct {
	Type       string `json:"Type,omitempty"`
	TypeDetail string `json:"TypeDetail,omitempty"`
	TypeName   string `json:"TypeName,omitempty"`
}

// SignerInfo names the official who signed the document.
type SignerInfo struct {
	Competence string `json:"Competence,omitempty"`
	Position   string `json:"Position,omitempty"`
	FullName   string `json:"FullName,omitempty"`
}

// OtherInfo holds the optional details of MessageHeader/OtherInfo.
type OtherInfo struct {
	Priority             string   `json:"Priority,omitempty"` // 0 normal .. 4 express at a fixed time
	SphereOfPromulgation string   `json:"SphereOfPromulgation,omitempty"`
	TyperNotation        string   `json:"TyperNotation,omitempty"`
	PromulgationAmount   string   `json:"PromulgationAmount,omitempty"`
	PageAmount           string   `json:"PageAmount,omitempty"`
	Direction            string   `json:"Direction,omitempty"`
	Appendixes           []string `json:"Appendixes,omitempty"` // Appendixes/Appendix*
}

// ResponseFor identifies the document a package or status answers.
type ResponseFor struct {
	OrganID          string `json:"OrganId,omitempty"`
	Code             string `json:"Code,omitempty"`
	PromulgationDate string `json:"PromulgationDate,omitempty"`
	DocumentID       string `json:"DocumentId,omitempty"`
}

// TraceHeader is one hop of the route so far.
type TraceHeader struct {
	OrganID   string `json:"OrganId,omitempty"`
	Timestamp string `json:"Timestamp,omitempty"` // yyyy/MM/dd HH:mm:ss
}

// StaffInfo names the clerk who handled a package or status.
type StaffInfo struct {
	Department string `json:"Department,omitempty"`
	Staff      string `json:"Staff,omitempty"`
	Mobile     string `json:"Mobile,omitempty"`
	Email      string `json:"Email,omitempty"`
}

// Receiver is one change to the recipient list of an updated document.
type Receiver struct {
	OrganID      string `json:"OrganId,omitempty"`
	ReceiverType string `json:"ReceiverType,omitempty"` // 0 removed, 1 added
}

// BusinessDocumentInfo is Bussiness/BussinessDocumentInfo (update of a document).
type BusinessDocumentInfo struct {
	DocumentInfo     string     `json:"DocumentInfo,omitempty"`
	DocumentReceiver string     `json:"DocumentReceiver,omitempty"`
	Receivers        []Receiver `json:"ReceiverList,omitempty"` // ReceiverList/Receiver*
}

// ReplacementInfo names a document replaced and the agencies concerned.
type ReplacementInfo struct {
	DocumentID string   `json:"DocumentId,omitempty"`
	OrganIDs   []string `json:"OrganIdList,omitempty"` // OrganIdList/OrganId*
}

// Business is TraceHeaderList/Bussiness (spelled so in the standard).
type Business struct {
	DocType      string                `json:"BussinessDocType,omitempty"` // 0 new, 1 revoke, 2 update, 3 replace
	DocReason    string                `json:"BussinessDocReason,omitempty"`
	DocumentID   string                `json:"DocumentId,omitempty"` // the target of 1..3
	DocumentInfo *BusinessDocumentInfo `json:"BussinessDocumentInfo,omitempty"`
	Staff        *StaffInfo            `json:"StaffInfo,omitempty"`
	Paper        string                `json:"Paper,omitempty"`
	Replacements []ReplacementInfo     `json:"ReplacementInfoList,omitempty"` // ReplacementInfoList/ReplacementInfo*
}

// Reference is one edXMLManifest/Reference.
type Reference struct {
	ContentID      string `json:"ContentId,omitempty"` // "cid:..."
	ContentType    string `json:"ContentType,omitempty"`
	Description    string `json:"Description,omitempty"`
	AttachmentName string `json:"AttachmentName,omitempty"`
}

// Attachment is one AttachmentEncoded/Attachment. Content is the base64 text exactly as
// carried (outer whitespace trimmed); it is decoded only on demand (Attachment.Decode).
type Attachment struct {
	ContentID      string `json:"ContentId,omitempty"`
	AttachmentName string `json:"AttachmentName,omitempty"`
	Description    string `json:"Description,omitempty"`
	ContentType    string `json:"ContentType,omitempty"`
	Content        string `json:"ContentTransferEncoded,omitempty"`
}

// Package is an edXML document package: MessageHeader, TraceHeaderList, manifest and
// attachments. Zero values mean "absent".
type Package struct {
	// MessageHeader
	From             Organization     `json:"From"`
	To               []Organization   `json:"To,omitempty"`
	DocumentID       string           `json:"DocumentId,omitempty"`
	Code             Code             `json:"Code"`
	PromulgationInfo PromulgationInfo `json:"PromulgationInfo"`
	DocumentType     DocumentType     `json:"DocumentType"`
	Subject          string           `json:"Subject,omitempty"`
	Content          string           `json:"Content,omitempty"`
	SignerInfo       SignerInfo       `json:"SignerInfo"`
	DueDate          string           `json:"DueDate,omitempty"`
	ToPlaces         []string         `json:"ToPlaces,omitempty"` // ToPlaces/Place*
	OtherInfo        *OtherInfo       `json:"OtherInfo,omitempty"`
	ResponseFor      []ResponseFor    `json:"ResponseFor,omitempty"`
	SteeringType     string           `json:"SteeringType,omitempty"` // 1, 2 or 3

	// TraceHeaderList
	TraceHeaders []TraceHeader `json:"TraceHeaders,omitempty"`
	Business     *Business     `json:"Bussiness,omitempty"`

	// edXMLBody/edXMLManifest and AttachmentEncoded
	ManifestVersion string       `json:"ManifestVersion,omitempty"` // normally ManifestVersion ("1.0")
	References      []Reference  `json:"References,omitempty"`
	Attachments     []Attachment `json:"Attachments,omitempty"`
}

// Status is an edXML status message about a document.
type Status struct {
	ResponseFor ResponseFor  `json:"ResponseFor"`
	From        Organization `json:"From"`
	StatusCode  string       `json:"StatusCode,omitempty"` // two digits, see StatusMeaning
	Description string       `json:"Description,omitempty"`
	Timestamp   string       `json:"Timestamp,omitempty"` // yyyy/MM/dd HH:mm:ss
	Staff       *StaffInfo   `json:"StaffInfo,omitempty"`
}

// Status codes of QCVN 102:2016 (EDXML.md).
const (
	StatusArrived       = "01"
	StatusRejected      = "02"
	StatusAccepted      = "03"
	StatusAssigned      = "04"
	StatusProcessing    = "05"
	StatusCompleted     = "06"
	StatusRecallRequest = "13"
	StatusRecallAgreed  = "15"
	StatusRecallRefused = "16"
)

// statusCodes maps every valid status code to its meaning.
var statusCodes = map[string]string{
	StatusArrived:       "arrived",
	StatusRejected:      "rejected",
	StatusAccepted:      "accepted",
	StatusAssigned:      "assigned",
	StatusProcessing:    "processing",
	StatusCompleted:     "completed",
	StatusRecallRequest: "recall requested",
	StatusRecallAgreed:  "recall/update agreed",
	StatusRecallRefused: "recall/update refused",
}

// StatusMeaning returns the meaning of a valid status code ("03" → "accepted").
func StatusMeaning(code string) (string, bool) {
	m, ok := statusCodes[code]
	return m, ok
}

// Business document types (Bussiness/BussinessDocType).
const (
	BusinessNew     = 0
	BusinessRevoke  = 1
	BusinessUpdate  = 2
	BusinessReplace = 3
)

// Recipients returns the To OrganIds, without empties or duplicates, in document order.
func (p *Package) Recipients() []string {
	out := make([]string, 0, len(p.To))
	for _, t := range p.To {
		if t.OrganID == "" || contains(out, t.OrganID) {
			continue
		}
		out = append(out, t.OrganID)
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// BusinessType returns Bussiness/BussinessDocType: 0 when absent (a new document), -1 when
// present but not a number in 0..3 (Validate reports it).
func (p *Package) BusinessType() int {
	if p.Business == nil || p.Business.DocType == "" {
		return BusinessNew
	}
	switch p.Business.DocType {
	case "0":
		return BusinessNew
	case "1":
		return BusinessRevoke
	case "2":
		return BusinessUpdate
	case "3":
		return BusinessReplace
	}
	return -1
}

// Target returns the document a revoke/update/replace acts on: Bussiness/DocumentId, else
// the header DocumentId (the field samples use both conventions).
func (p *Package) Target() string {
	if p.Business != nil && p.Business.DocumentID != "" {
		return p.Business.DocumentID
	}
	return p.DocumentID
}

// Attachment returns the attachment with the given ContentId ("cid:..."), or nil.
func (p *Package) Attachment(contentID string) *Attachment {
	for i := range p.Attachments {
		if p.Attachments[i].ContentID == contentID {
			return &p.Attachments[i]
		}
	}
	return nil
}
