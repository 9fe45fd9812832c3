package agency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
)

// Topics and headers of SPEC §8 the inbox reads and writes. They are repeated here
// rather than imported, so the agency side does not depend on the daemon package.
const (
	InboxPrefix  = "axis.inbox."
	TopicStatus  = "axis.status"
	HeaderType   = "axis-type"
	HeaderDocID  = "axis-document-id"
	HeaderFrom   = "axis-from"
	HeaderSHA256 = "axis-sha256"
	// HeaderAcceptedAt is when the axis accepted the message (RFC 3339, UTC): the inbox
	// verifies at that time.
	HeaderAcceptedAt = "axis-accepted-at"
)

// InboxTopic is the inbox topic of an agency.
func InboxTopic(agency string) string { return InboxPrefix + agency }

// Subdirectories of the output directory.
const (
	StatusDir  = "status"  // statuses forwarded to this agency
	SentDir    = "sent"    // the signed 01 answers this agency sent, one per package sha256
	RefusedDir = "refused" // messages refused here, each with a <name>.error.json beside it
)

// ErrorSuffix ends the name of the error body kept beside a refused message.
const ErrorSuffix = ".error.json"

// Kind is what became of one inbox message.
type Kind string

// Outcomes of one message.
const (
	Arrived   Kind = "ARRIVED"   // a new package, written and answered 01
	Status    Kind = "STATUS"    // a forwarded status, written to status/
	Duplicate Kind = "DUPLICATE" // already written and answered (at-least-once redelivery): nothing is done again
	Refused   Kind = "REFUSED"   // failed verification: not written to Dir itself, not answered (kept in refused/ if its bytes are what the axis sent)
)

// Event reports one handled message.
type Event struct {
	Kind       Kind
	DocumentID string // from the verified document; for a refusal, the axis-document-id header
	From       string // the verified sender; for a refusal, the axis-from header
	Code       string // status code (Status, and Duplicate of a status)
	File       string // the file written (or already there); for a refusal, the copy kept in refused/ ("" if none)
	Err        error  // why it was refused
	Topic      string
	Partition  int
	Offset     int64
}

// Counts sums the outcomes.
type Counts struct {
	Arrived, Statuses, Duplicates, Refused int
}

// Config configures an Inbox.
type Config struct {
	Agency string // this agency's OrganId
	Dir    string // where packages are written
	// The full verification: trust (and CRLs), registry (nil: senders are bound by
	// serialNumber only) and size limits. Each message is verified at the time the axis
	// accepted it (see Handle).
	Verifier  *signing.Verifier
	Registry  *registry.Registry
	Limits    envelope.Limits
	Signer    *signing.Signer       // this agency's key, to sign the 01 answers
	Organ     envelope.Organization // From of the answers; OrganId defaults to Agency
	Publisher bus.Publisher         // where answers go (topic axis.status)
	Now       func() time.Time      // default time.Now
	Logger    *zap.Logger
	Report    func(Event) // called once per handled message (may be nil)
}

// Inbox handles the messages of one agency's inbox topic. A subscription calls Handle one
// message at a time; two concurrent calls for the same package would both answer it.
type Inbox struct {
	cfg     Config
	log     *zap.Logger
	checker *verify.Checker // at the current time

	serial sync.Mutex // held while a message is handled (Handle, RetryRefused)
	mu     sync.Mutex
	counts Counts
}

// NewInbox checks cfg and returns an Inbox.
func NewInbox(cfg Config) (*Inbox, error) {
	switch {
	case cfg.Agency == "":
		return nil, errs.Field(errs.BadRequest, "agency", "the agency id is required")
	case cfg.Dir == "":
		return nil, errs.Field(errs.BadRequest, "out", "an output directory is required")
	case cfg.Verifier == nil || cfg.Signer == nil || cfg.Publisher == nil:
		return nil, errs.E(errs.BadRequest, "inbox: verifier, signer and publisher are required")
	}
	if cfg.Organ.OrganID == "" {
		cfg.Organ.OrganID = cfg.Agency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	for _, sub := range []string{StatusDir, SentDir} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o755); err != nil {
			return nil, errs.Wrap(errs.BadRequest, err, "--out %s", cfg.Dir)
		}
	}
	return &Inbox{cfg: cfg, log: cfg.Logger.With(zap.String("agency", cfg.Agency)),
		checker: verify.New(cfg.Verifier, cfg.Registry, cfg.Limits)}, nil
}

// Counts returns the outcomes so far.
func (in *Inbox) Counts() Counts {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.counts
}

func (in *Inbox) report(e Event) {
	in.mu.Lock()
	switch e.Kind {
	case Arrived:
		in.counts.Arrived++
	case Status:
		in.counts.Statuses++
	case Duplicate:
		in.counts.Duplicates++
	case Refused:
		in.counts.Refused++
	}
	in.mu.Unlock()
	if in.cfg.Report != nil {
		in.cfg.Report(e)
	}
}

// Handle processes one inbox message: integrity (axis-sha256), full verification, the
// atomic write, and for a package the signed 01 answer on axis.status. It returns an
// error only for what may pass (disk, broker): the message is then redelivered. Calls
// are handled one at a time.
//
// Verification is at the time the axis accepted the message (axis-accepted-at), as the
// axis verified it then: a signer certificate that expired since, or was revoked since
// other than for a key compromise, does not refuse what the axis vouched for. Without
// that header, or with one unreadable or in the future, it is at the current time.
//
// What cannot be accepted here is reported as Refused and acknowledged, so it does not
// block the inbox; it is neither written to Dir nor answered. Its bytes are first kept,
// durably, in refused/ with the error body beside them (refusals can depend on this
// side: an older --registry, a smaller --max-package-bytes, a trust store without the
// sender's CA, a verifier of another version), unless they are not what the axis
// delivered (no axis-sha256, or another): those were altered on the way.
func (in *Inbox) Handle(ctx context.Context, m bus.Message) error {
	in.serial.Lock() // one message at a time, RetryRefused's included
	defer in.serial.Unlock()
	_, err := in.handle(ctx, m)
	return err
}

// handle is Handle, returning what it reported (Arrived, Status, Duplicate or Refused)
// when it returns no error.
func (in *Inbox) handle(ctx context.Context, m bus.Message) (Kind, error) {
	ev := Event{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		DocumentID: m.Header(HeaderDocID), From: m.Header(HeaderFrom)}
	sum := sha256.Sum256(m.Value)
	hexSum := hex.EncodeToString(sum[:])
	refuse := func(err error) (Kind, error) {
		ev.Kind, ev.Err = Refused, err
		code := errs.CodeOf(err)
		if intact := strings.ToLower(m.Header(HeaderSHA256)) == hexSum; intact {
			path, werr := in.keepRefused(m, hexSum, ev.DocumentID, err)
			if werr != nil {
				// Not acknowledged: acknowledging would lose the only copy here.
				in.log.Error("inbox message refused, but it cannot be kept in refused/; it will be delivered again",
					zap.String("document_id", ev.DocumentID), zap.Int64("offset", m.Offset), zap.String("code", string(code)),
					zap.NamedError("refusal", err), zap.Error(werr))
				return "", errs.Wrap(errs.Unavailable, werr, "keeping the refused message %s", path)
			}
			ev.File = path
		}
		in.log.Warn("inbox message refused", zap.String("document_id", ev.DocumentID), zap.Int64("offset", m.Offset),
			zap.String("code", string(code)), zap.String("kept", ev.File), zap.Error(err))
		in.report(ev)
		return Refused, nil
	}
	switch h := strings.ToLower(m.Header(HeaderSHA256)); {
	case h == "":
		return refuse(errs.E(errs.BadRequest, "no %s header: not delivered by the axis", HeaderSHA256))
	case h != hexSum:
		return refuse(errs.E(errs.SignatureInvalid, "%s header %.16s… does not match the bytes (sha256 %.16s…): altered in transit",
			HeaderSHA256, h, hexSum))
	}
	res, err := in.checkerFor(m).Check(m.Value)
	if err != nil {
		return refuse(err)
	}
	ev.DocumentID, ev.From = res.DocumentID, res.From
	typ := m.Header(HeaderType)
	switch {
	case res.Kind == envelope.KindPackage && (typ == "edoc" || typ == ""):
		if !slices.Contains(res.Package.Recipients(), in.cfg.Agency) {
			return refuse(errs.E(errs.InvalidEnvelope, "package not addressed to %s", in.cfg.Agency))
		}
		return in.handlePackage(ctx, m, res, hexSum, ev)
	case res.Kind == envelope.KindStatus && (typ == "status" || typ == ""):
		return in.handleStatus(res, m.Value, hexSum, ev)
	default:
		return refuse(errs.E(errs.InvalidEnvelope, "%s header %q does not match the verified document (%s)", HeaderType, typ, res.Kind))
	}
}

// checkerFor returns the check of m: at its axis-accepted-at time if it has a usable
// one, else at the current time. The verifier made for that time reads the trust store
// in use now (a CRL loaded since counts; a revocation for a key compromise refuses at
// any time).
func (in *Inbox) checkerFor(m bus.Message) *verify.Checker {
	h := m.Header(HeaderAcceptedAt)
	if h == "" {
		return in.checker
	}
	at, err := time.Parse(time.RFC3339, h)
	if err != nil || at.After(time.Now()) {
		in.log.Debug("unusable "+HeaderAcceptedAt+" header: verifying at the current time", zap.String("value", h),
			zap.Int64("offset", m.Offset))
		return in.checker
	}
	return verify.New(in.cfg.Verifier.At(at), in.cfg.Registry, in.cfg.Limits)
}

// keepRefused writes a refused message to refused/ (under the name a package or status of
// its document would get, so a redelivery finds it there and writes nothing twice), then
// the error body (errs.ToBody, as the drop directory's rejected/ files) beside it, both
// synced with their directory.
func (in *Inbox) keepRefused(m bus.Message, hexSum, documentID string, cause error) (string, error) {
	kept := refusedBody{Body: errs.ToBody(cause),
		Delivery: &refusedDelivery{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Headers: map[string]string{}}}
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "axis-") {
			kept.Delivery.Headers[h.Key] = string(h.Value)
		}
	}
	js, err := json.Marshal(kept)
	if err != nil {
		return "", err
	}
	ext := ".edxml"
	if m.Header(HeaderType) == "status" {
		ext = ".xml"
	}
	path, _, err := place(filepath.Join(in.cfg.Dir, RefusedDir), SafeName(documentID), hexSum, ext, m.Value)
	if err != nil {
		return path, err
	}
	return path, writeAtomic(path+ErrorSuffix, append(js, '\n'))
}

// handlePackage writes the package and answers it. Whether a package was handled is
// known from sent/ alone, by the package's full sha256, never from Dir: the agency's
// document system may take files out of Dir, or change them there. The answer goes
// through two names in sent/: a pending file, written once the package is in Dir and
// before publishing, and the final name, given once Kafka acknowledged it. A redelivery
// then knows where the first attempt stopped: a final answer means it was all done
// (Duplicate: nothing is written or published again); a pending one means the package
// was written (it is not written again) and the answer is published again byte for byte
// (the axis records identical bytes once), so the agency never signs two different 01s
// for one package.
func (in *Inbox) handlePackage(ctx context.Context, m bus.Message, res *verify.Result, hexSum string, ev Event) (Kind, error) {
	stem := SafeName(res.DocumentID)
	name := AnswerFile(res.DocumentID, hexSum)
	sent := filepath.Join(in.cfg.Dir, SentDir, name)
	pending := filepath.Join(in.cfg.Dir, SentDir, ".pending-"+name)
	switch _, err := os.Stat(sent); {
	case err == nil:
		ev.Kind, ev.File = Duplicate, packagePath(in.cfg.Dir, stem, hexSum, m.Value)
		in.log.Info("package delivered again; already written and answered", zap.String("document_id", res.DocumentID),
			zap.String("file", ev.File), zap.String("answer", sent))
		in.report(ev)
		return Duplicate, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", errs.Wrap(errs.Unavailable, err, "reading %s", sent)
	}
	answer, err := os.ReadFile(pending)
	switch {
	case err == nil:
		ev.File = packagePath(in.cfg.Dir, stem, hexSum, m.Value)
	case errors.Is(err, os.ErrNotExist):
		path, _, err := place(in.cfg.Dir, stem, hexSum, ".edxml", m.Value)
		if err != nil {
			return "", errs.Wrap(errs.Unavailable, err, "writing %s", path)
		}
		ev.File = path
		if answer, err = in.answer(res, pending); err != nil {
			return "", err
		}
	default:
		return "", errs.Wrap(errs.Unavailable, err, "reading %s", pending)
	}
	msg := bus.Message{Topic: TopicStatus, Key: []byte(res.DocumentID), Value: answer, Headers: []bus.Header{
		{Key: HeaderType, Value: []byte("status")},
		{Key: HeaderDocID, Value: []byte(res.DocumentID)},
		{Key: HeaderFrom, Value: []byte(in.cfg.Agency)},
		{Key: HeaderSHA256, Value: []byte(sha256Hex(answer))},
	}}
	if err := in.cfg.Publisher.Publish(ctx, msg); err != nil {
		return "", err
	}
	if err := os.Rename(pending, sent); err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "keeping the answer %s", sent)
	}
	if err := syncDir(filepath.Dir(sent)); err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "keeping the answer %s", sent)
	}
	ev.Kind = Arrived
	in.log.Info("package delivered", zap.String("document_id", res.DocumentID), zap.String("from", res.From),
		zap.String("file", ev.File))
	in.report(ev)
	return ev.Kind, nil
}

// packagePath is where a package was written in dir: the name that holds it, or, if the
// agency's system took or changed it since, the name it was first given (a 48-bit
// prefix collision aside).
func packagePath(dir, stem, hexSum string, b []byte) string {
	for _, suffix := range []string{shortSHA(hexSum), hexSum} {
		p := filepath.Join(dir, stem+"."+suffix+".edxml")
		if same, err := sameFile(p, b); err == nil && same {
			return p
		}
	}
	return filepath.Join(dir, stem+"."+shortSHA(hexSum)+".edxml")
}

// answer signs a new 01 for a package and keeps it, pending, at path.
func (in *Inbox) answer(res *verify.Result, path string) ([]byte, error) {
	from := in.cfg.Organ
	if in.cfg.Registry != nil { // its name as the registry has it now (a SIGHUP may have renamed it)
		if a, ok := in.cfg.Registry.Lookup(from.OrganID); ok && a.Name != "" {
			from.OrganName = a.Name
		}
	}
	st, err := NewStatus(StatusRequest{DocumentID: res.DocumentID, Code: envelope.StatusArrived, From: from,
		Time: in.cfg.Now()})
	if err != nil {
		return nil, err
	}
	// The sender is the one the axis verified (it may differ from the DocumentId's part).
	st.ResponseFor.OrganID = res.From
	b, err := SignStatus(st, in.cfg.Signer)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path, b); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "writing %s", path)
	}
	return b, nil
}

func (in *Inbox) handleStatus(res *verify.Result, b []byte, hexSum string, ev Event) (Kind, error) {
	ev.Code = res.Status.StatusCode
	stem := SafeName(res.DocumentID) + "." + SafeName(ev.Code) + "." + SafeName(res.From)
	path, dup, err := place(filepath.Join(in.cfg.Dir, StatusDir), stem, hexSum, ".xml", b)
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "writing %s", path)
	}
	ev.File, ev.Kind = path, Status
	if dup {
		ev.Kind = Duplicate
	}
	in.log.Info("status received", zap.String("document_id", res.DocumentID), zap.String("from", res.From),
		zap.String("code", ev.Code), zap.String("file", path), zap.Bool("duplicate", dup))
	in.report(ev)
	return ev.Kind, nil
}

// place writes b as dir/stem.<sha prefix>ext unless that file already holds b (dup). If
// another content holds the name (a 48-bit prefix collision), the full hash is used.
func place(dir, stem, hexSum, ext string, b []byte) (path string, dup bool, err error) {
	for _, suffix := range []string{shortSHA(hexSum), hexSum} {
		path = filepath.Join(dir, stem+"."+suffix+ext)
		same, err := sameFile(path, b)
		switch {
		case errors.Is(err, errOtherContent):
			continue
		case err != nil:
			return path, false, err
		case same:
			return path, true, nil
		}
		return path, false, writeAtomic(path, b)
	}
	return path, false, errOtherContent
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
