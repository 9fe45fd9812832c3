package axis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/axis/receipt"
	"axis/axis/verify"
	"axis/envelope"
	"axis/store"
)

// Sources of a submission (the axis_intake_total source label, audit details).
const (
	SourceHTTP  = "http"
	SourceDrop  = "drop"
	SourceKafka = "kafka"
)

// Intake verifies submissions and makes them durable. HTTP, the drop directory and the
// axis.status consumer all submit through it, so they answer with the same codes.
type Intake struct {
	checker  *verify.Checker
	store    *store.Store
	identity receipt.Signer
	log      *zap.Logger
	m        *metrics

	// verifySlots bounds the verifications running at once (verifyParallelism).
	verifySlots chan struct{}

	// storeFailing is set when a store write failed (errs.Unavailable) and cleared by the
	// next one that succeeds: /readyz reports it, since Ping only sees a closed store.
	storeFailing atomic.Bool
}

// noteStore records the outcome of a store write for /readyz.
func (in *Intake) noteStore(err error) {
	if err == nil || !errs.CodeOf(err).Transient() {
		in.storeFailing.Store(false)
	} else {
		in.storeFailing.Store(true)
	}
}

// PackageAnswer is the body of a 202/200 answer to a package (SPEC §6).
type PackageAnswer struct {
	DocumentID string                 `json:"document_id"`
	SHA256     string                 `json:"sha256"`
	AcceptedAt time.Time              `json:"accepted_at"`
	AuditSeq   uint64                 `json:"audit_seq"`
	Recipients []store.RecipientState `json:"recipients"`
	Receipt    string                 `json:"receipt"`
	Existing   bool                   `json:"-"` // identical bytes were accepted before: 200
}

// StatusAnswer is the body of a 202 answer to a status.
type StatusAnswer struct {
	DocumentID string `json:"document_id"`
	Code       string `json:"code"`
	AuditSeq   uint64 `json:"audit_seq"`
	Existing   bool   `json:"-"`
}

// verifyParallelism leaves one core to the rest of the pipeline. Verification is the
// costliest step of an intake, and with one goroutine per HTTP request a burst would
// otherwise take every core, starving the store's single writer and the dispatcher
// (measured: the writer then ran at a fraction of a core and became the bottleneck).
func verifyParallelism() int { return max(1, runtime.GOMAXPROCS(0)-1) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SubmitPackage verifies and accepts a signed package. Identical bytes accepted before
// get the first answer again, without being verified or routed again (SPEC §2).
func (in *Intake) SubmitPackage(ctx context.Context, b []byte, source string) (PackageAnswer, error) {
	sum := sha256Hex(b)
	// A stored document without its receipt yet (its first submission is between its two
	// writes, or crashed there) takes the full path, which completes the receipt.
	if doc, err := in.store.AcceptedBySHA(ctx, sum); err == nil && len(doc.Receipt) > 0 {
		in.m.intake.WithLabelValues(source, "edoc", "duplicate").Inc()
		return answerOf(doc), nil
	} else if err != nil && !errs.Is(err, errs.NotFound) {
		return PackageAnswer{}, err
	}
	res, err := in.check(ctx, b, sum, source, envelope.KindPackage)
	if err != nil {
		return PackageAnswer{}, err
	}
	p := res.Package
	meta := store.DocumentMeta{
		DocumentID: p.DocumentID, From: p.From.OrganID, To: p.Recipients(), Subject: p.Subject,
		CodeNumber: p.Code.CodeNumber, CodeNotation: p.Code.CodeNotation, DocTypeName: p.DocumentType.TypeName,
		BusinessType: p.BusinessType(), Legacy: res.Signed.Legacy,
	}
	meta.DocType, _ = strconv.Atoi(p.DocumentType.Type)
	if p.OtherInfo != nil {
		meta.Priority, _ = strconv.Atoi(p.OtherInfo.Priority)
	}
	if meta.BusinessType != envelope.BusinessNew {
		meta.Target = p.Target()
	}
	start := time.Now()
	r, err := in.store.Accept(ctx, store.AcceptRequest{Meta: meta, Bytes: b,
		Receipt: func(seq uint64, at time.Time) ([]byte, error) {
			return acceptanceReceipt(in.identity, store.Document{DocumentMeta: meta, SHA256: sum, AuditSeq: seq, AcceptedAt: at})
		}})
	in.m.storeCommit.WithLabelValues("accept").Observe(time.Since(start).Seconds())
	in.noteStore(err)
	log := in.log.With(zap.String("document_id", meta.DocumentID), zap.String("from", meta.From), zap.String("source", source))
	if err != nil {
		code := errs.CodeOf(err)
		in.m.intake.WithLabelValues(source, "edoc", string(code)).Inc()
		if code.Transient() {
			log.Error("package not accepted: store unavailable", zap.Error(err))
		} else {
			log.Info("package refused", zap.String("code", string(code)), zap.Error(err))
			in.reject(ctx, sum, meta.DocumentID, meta.From, err, source)
		}
		return PackageAnswer{}, err
	}
	if r.Existing {
		in.m.intake.WithLabelValues(source, "edoc", "duplicate").Inc()
	} else {
		in.m.intake.WithLabelValues(source, "edoc", "accepted").Inc()
		log.Info("package accepted", zap.Uint64("audit_seq", r.AuditSeq), zap.Strings("to", meta.To), zap.Int("bytes", len(b)))
	}
	return PackageAnswer{DocumentID: r.DocumentID, SHA256: r.SHA256, AcceptedAt: r.AcceptedAt, AuditSeq: r.AuditSeq,
		Recipients: r.Recipients, Receipt: string(r.Receipt), Existing: r.Existing}, nil
}

// SubmitStatus verifies and records a signed status message, queuing its forwarding.
func (in *Intake) SubmitStatus(ctx context.Context, b []byte, source string) (StatusAnswer, error) {
	sum := sha256Hex(b)
	res, err := in.check(ctx, b, sum, source, envelope.KindStatus)
	if err != nil {
		return StatusAnswer{}, err
	}
	s := res.Status
	start := time.Now()
	// The document's sender is the first part of its DocumentId (envelope validation
	// binds it to From). ResponseFor/OrganId is not used: field systems put the
	// recipient there in recall requests (samples/status_cancellation_13.edxml).
	var docFrom string
	if id, err := envelope.ParseDocumentID(s.ResponseFor.DocumentID); err == nil {
		docFrom = id.OrganID
	}
	r, err := in.store.RecordStatus(ctx, store.StatusRequest{DocumentID: s.ResponseFor.DocumentID, DocFrom: docFrom,
		From: res.From, Code: s.StatusCode, Description: s.Description, Bytes: b,
		Signed: append([]byte(res.Signed.Algorithm+"\x00"), res.Signed.SignedInfoHash...)})
	in.m.storeCommit.WithLabelValues("status").Observe(time.Since(start).Seconds())
	in.noteStore(err)
	log := in.log.With(zap.String("document_id", s.ResponseFor.DocumentID), zap.String("from", res.From),
		zap.String("status", s.StatusCode), zap.String("source", source))
	if err != nil {
		code := errs.CodeOf(err)
		in.m.intake.WithLabelValues(source, "status", string(code)).Inc()
		if code.Transient() {
			log.Error("status not recorded: store unavailable", zap.Error(err))
			return StatusAnswer{}, err
		}
		log.Info("status refused", zap.String("code", string(code)), zap.Error(err))
		in.reject(ctx, sum, s.ResponseFor.DocumentID, res.From, err, source)
		return StatusAnswer{}, err
	}
	if r.Existing {
		in.m.intake.WithLabelValues(source, "status", "duplicate").Inc()
	} else {
		in.m.intake.WithLabelValues(source, "status", "accepted").Inc()
		log.Info("status recorded", zap.Uint64("audit_seq", r.AuditSeq))
	}
	return StatusAnswer{DocumentID: r.DocumentID, Code: r.Code, AuditSeq: r.AuditSeq, Existing: r.Existing}, nil
}

// check runs the full verification and records a refusal as an audit step.
func (in *Intake) check(ctx context.Context, b []byte, sum, source string, want envelope.Kind) (*verify.Result, error) {
	select {
	case in.verifySlots <- struct{}{}:
	case <-ctx.Done():
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "not verified")
	}
	start := time.Now()
	res, err := in.checker.Check(b)
	in.m.verify.Observe(time.Since(start).Seconds())
	<-in.verifySlots
	if err == nil && res.Kind != want {
		if want == envelope.KindPackage {
			err = errs.E(errs.InvalidEnvelope, "this is not a document package (status messages go to /v1/status or axis.status)")
		} else {
			err = errs.E(errs.InvalidEnvelope, "this is not a status message (packages go to /v1/packages)")
		}
	}
	if err != nil {
		in.m.intake.WithLabelValues(source, want.String(), string(errs.CodeOf(err))).Inc()
		in.log.Info("submission refused", zap.String("source", source), zap.String("sha256", sum),
			zap.String("code", string(errs.CodeOf(err))), zap.Error(err))
		in.reject(ctx, sum, "", "", err, source)
		return nil, err
	}
	return res, nil
}

// Refused records an input refused before it could be read whole (too large), from
// the HTTP intake or the drop directory: a refusal is an audit step like any other
// (SPEC §9), without a sha256 since the bytes were never all read.
func (in *Intake) Refused(ctx context.Context, cause error, source string) {
	in.m.intake.WithLabelValues(source, "unread", string(errs.CodeOf(cause))).Inc()
	in.log.Info("submission refused unread", zap.String("source", source),
		zap.String("code", string(errs.CodeOf(cause))), zap.Error(cause))
	in.reject(ctx, "", "", "", cause, source)
}

// reject records a refused input in the audit log. The refusal stands even if the
// store cannot record it (that is logged).
func (in *Intake) reject(ctx context.Context, sum, docID, from string, cause error, source string) {
	body := errs.ToBody(cause)
	if _, err := in.store.RecordRejected(ctx, store.Rejection{DocumentID: docID, From: from, SHA256: sum,
		Code: body.Error.Code, Detail: source + ": " + body.Error.Message}); err != nil {
		in.log.Warn("could not record a rejection in the audit log", zap.String("sha256", sum), zap.Error(err))
	}
}

// acceptanceReceipt builds the receipt of an accepted package. The answer to the
// submission and the store's rebuild of receipts lost in an unclean stop both build it
// here, so that they agree byte for byte (the identity signs deterministically).
func acceptanceReceipt(identity receipt.Signer, d store.Document) ([]byte, error) {
	return receipt.Build(receipt.Receipt{DocumentID: d.DocumentID, From: d.From, SHA256: d.SHA256,
		AcceptedAt: d.AcceptedAt, AuditSeq: d.AuditSeq, Recipients: d.To}, identity)
}

func answerOf(d store.Document) PackageAnswer {
	a := PackageAnswer{DocumentID: d.DocumentID, SHA256: d.SHA256, AcceptedAt: d.AcceptedAt, AuditSeq: d.AuditSeq,
		Receipt: string(d.Receipt), Existing: true}
	// The first answer listed every recipient as pending (SPEC §2: the same answer as
	// the first time); the current states are in GET /v1/documents/{id}.
	for _, r := range d.Recipients {
		a.Recipients = append(a.Recipients, store.RecipientState{OrganID: r.OrganID, State: store.StatePending})
	}
	return a
}
