package store

import (
	"time"
)

// State is a recipient's current delivery state. It only moves forward (see Rank).
type State string

// Delivery states. StatePending: accepted, not yet on the recipient's inbox topic;
// StatePublished: acknowledged by Kafka; the others follow the edXML status codes.
const (
	StatePending    State = "pending"
	StatePublished  State = "published"
	StateArrived    State = "arrived"    // 01
	StateRejected   State = "rejected"   // 02 (terminal)
	StateAccepted   State = "accepted"   // 03
	StateAssigned   State = "assigned"   // 04
	StateProcessing State = "processing" // 05
	StateCompleted  State = "completed"  // 06 (terminal)
)

// Rank orders states: pending 0 < published 1 < arrived 2 < accepted 3 < assigned 4 <
// processing 5 < completed = rejected 6. A status whose rank is not higher than the
// current one is kept in the history but leaves the state as it is, so a late 01 after 05
// changes nothing and the terminal states 02 and 06 never change once reached.
func (s State) Rank() int {
	switch s {
	case StatePending:
		return 0
	case StatePublished:
		return 1
	case StateArrived:
		return 2
	case StateAccepted:
		return 3
	case StateAssigned:
		return 4
	case StateProcessing:
		return 5
	case StateCompleted, StateRejected:
		return 6
	}
	return -1
}

// Recall is the recall/update negotiation state of one delivery, separate from its
// processing state: requested (13) < agreed (15) = refused (16); it never moves back either.
type Recall string

// Recall states.
const (
	RecallNone      Recall = ""
	RecallRequested Recall = "requested"
	RecallAgreed    Recall = "agreed"
	RecallRefused   Recall = "refused"
)

func (r Recall) rank() int {
	switch r {
	case RecallRequested:
		return 1
	case RecallAgreed, RecallRefused:
		return 2
	}
	return 0
}

// Status codes accepted by RecordStatus (edXML, SPEC §2).
const (
	CodeArrived       = "01"
	CodeRejected      = "02"
	CodeAccepted      = "03"
	CodeAssigned      = "04"
	CodeProcessing    = "05"
	CodeCompleted     = "06"
	CodeRecallRequest = "13"
	CodeRecallAgreed  = "15"
	CodeRecallRefused = "16"
)

var codeState = map[string]State{
	CodeArrived: StateArrived, CodeRejected: StateRejected, CodeAccepted: StateAccepted,
	CodeAssigned: StateAssigned, CodeProcessing: StateProcessing, CodeCompleted: StateCompleted,
}

// StateOfCode maps a status code 01–06 to its state ("" for other codes).
func StateOfCode(code string) State { return codeState[code] }

// DocumentMeta is what the daemon read from the verified envelope.
type DocumentMeta struct {
	DocumentID   string   `json:"document_id"`
	From         string   `json:"from"`
	To           []string `json:"to"`
	Subject      string   `json:"subject,omitempty"`
	CodeNumber   string   `json:"code_number,omitempty"`
	CodeNotation string   `json:"code_notation,omitempty"`
	DocType      int      `json:"doc_type,omitempty"`
	DocTypeName  string   `json:"doc_type_name,omitempty"`
	Priority     int      `json:"priority,omitempty"`
	BusinessType int      `json:"business_type,omitempty"` // 0 new, 1 revoke, 2 update, 3 replace
	// Target is the DocumentId a revision (BusinessType 1–3) applies to; empty means the
	// package's own DocumentId (SPEC §2).
	Target string `json:"target,omitempty"`
	// Legacy: accepted on a SHA-1 signature or certificate (--allow-sha1, SPEC §3); also
	// said in the detail of its audit event, so that an auditor can find every such one.
	Legacy bool `json:"legacy,omitempty"`
}

// AcceptRequest is one verified package to store and route.
type AcceptRequest struct {
	Meta  DocumentMeta
	Bytes []byte // the exact signed bytes
	// Receipt, if set, builds the acceptance receipt once the package is durable (it is
	// given the audit seq and time); the bytes are stored and returned again for an
	// identical resubmission. It runs in the caller's goroutine, and again for an
	// identical resubmission whose first receipt was never stored (a crash in between).
	Receipt func(auditSeq uint64, acceptedAt time.Time) ([]byte, error)
}

// RecipientState is one recipient's current state.
type RecipientState struct {
	OrganID string `json:"organ_id"`
	State   State  `json:"state"`
}

// AcceptResult is the answer to a submission (the same for an identical resubmission).
type AcceptResult struct {
	DocumentID string
	From       string
	SHA256     string
	AcceptedAt time.Time
	AuditSeq   uint64
	Recipients []RecipientState
	Receipt    []byte
	Existing   bool // identical bytes were already stored: nothing new was done

	doc uint64 // the document record (for its receipt)
}

// StatusRequest is one verified status message.
type StatusRequest struct {
	DocumentID  string // ResponseFor/DocumentId: the document the status is about
	DocFrom     string // ResponseFor/OrganId: its sender, if given (narrows the lookup)
	From        string // the agency that signed the status
	Code        string
	Description string
	Bytes       []byte // the exact signed bytes, forwarded as they are
	// Signed names the signed statement (signing.Verified's Algorithm and SignedInfoHash):
	// a status recorded under it before is Existing, whatever bytes carry it now, so
	// that adding a comment to an old signed status does not replay it.
	Signed []byte
}

// StatusResult is the answer to a status.
type StatusResult struct {
	DocumentID string
	Code       string
	SHA256     string
	AuditSeq   uint64
	Existing   bool // identical bytes, or the same signed statement, were already recorded
}

// HistoryEntry is one step of a delivery: published to Kafka, or a status received.
type HistoryEntry struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"` // "published" or "status"
	From        string    `json:"from,omitempty"`
	Code        string    `json:"code,omitempty"`
	Description string    `json:"description,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	AuditSeq    uint64    `json:"audit_seq"`
}

// Delivery is one recipient of one package.
type Delivery struct {
	OrganID   string         `json:"organ_id"`
	State     State          `json:"state"`
	Recall    Recall         `json:"recall,omitempty"`
	ArrivedAt time.Time      `json:"arrived_at,omitzero"`
	History   []HistoryEntry `json:"history"`
}

// Ref names another package (a revision, or the target of one).
type Ref struct {
	DocumentID   string    `json:"document_id"`
	From         string    `json:"from"`
	SHA256       string    `json:"sha256"`
	BusinessType int       `json:"business_type"`
	AcceptedAt   time.Time `json:"accepted_at"`
	to           []string  // its recipients: who may see it (SeenBy)
}

// Document is one stored package with its deliveries.
type Document struct {
	DocumentMeta
	SHA256     string     `json:"sha256"`
	Size       int64      `json:"size"`
	AcceptedAt time.Time  `json:"accepted_at"`
	AuditSeq   uint64     `json:"audit_seq"`
	Recipients []Delivery `json:"recipients"`
	Revises    *Ref       `json:"revises,omitempty"`   // the package this revision applies to
	Revisions  []Ref      `json:"revisions,omitempty"` // later packages revising this one
	Receipt    []byte     `json:"-"`

	num uint64 // the document record
}

// Rejection is a refused input, recorded as an audit step.
type Rejection struct {
	DocumentID string
	From       string
	To         string
	SHA256     string
	Code       string // errs code
	Detail     string
}

// OutboxEntry is one Kafka delivery not yet acknowledged.
type OutboxEntry struct {
	ID         uint64
	Kind       string // "edoc" or "status" (the axis-type header)
	Recipient  string // inbox topic owner
	DocumentID string
	From       string // sender of Value
	SHA256     string // of Value
	Code       string // status code for Kind "status"
	AcceptedAt time.Time
	AuditSeq   uint64
	Value      []byte
}

// AuditLine is one stored export line.
type AuditLine struct {
	Seq  uint64
	Line []byte
}
