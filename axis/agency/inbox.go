package agency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
)

// InboxTopic is the inbox topic of an agency.
func InboxTopic(agency string) string { return InboxPrefix + agency }

// Subdirectories of the output directory.
const (
	StatusDir = "status" // statuses forwarded to this agency
	SentDir   = "sent"   // the signed 01 answers this agency sent
)

// Kind is what became of one inbox message.
type Kind string

// Outcomes of one message.
const (
	Arrived   Kind = "ARRIVED"   // a new package, written and answered 01
	Status    Kind = "STATUS"    // a forwarded status, written to status/
	Duplicate Kind = "DUPLICATE" // already written and answered (at-least-once redelivery): nothing is done again
	Refused   Kind = "REFUSED"   // failed verification: not written, not answered
)

// Event reports one handled message.
type Event struct {
	Kind       Kind
	DocumentID string // from the verified document; for a refusal, the axis-document-id header
	From       string // the verified sender; for a refusal, the axis-from header
	Code       string // status code (Status, and Duplicate of a status)
	File       string // the file written (or already there)
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
	Agency    string                // this agency's OrganId
	Dir       string                // where packages are written
	Checker   *verify.Checker       // the full verification (trust, registry)
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
	cfg Config
	log *zap.Logger

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
	case cfg.Checker == nil || cfg.Signer == nil || cfg.Publisher == nil:
		return nil, errs.E(errs.BadRequest, "inbox: checker, signer and publisher are required")
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
	if err := os.MkdirAll(filepath.Join(cfg.Dir, StatusDir), 0o755); err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "--out %s", cfg.Dir)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, SentDir), 0o755); err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "--out %s", cfg.Dir)
	}
	return &Inbox{cfg: cfg, log: cfg.Logger.With(zap.String("agency", cfg.Agency))}, nil
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
// error only for what may pass (disk, broker): the message is then redelivered. What can
// never be accepted is reported as Refused and acknowledged, so it does not block the
// inbox; it is neither written nor answered.
func (in *Inbox) Handle(ctx context.Context, m bus.Message) error {
	ev := Event{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		DocumentID: m.Header(HeaderDocID), From: m.Header(HeaderFrom)}
	refuse := func(err error) error {
		ev.Kind, ev.Err = Refused, err
		in.log.Warn("inbox message refused", zap.String("document_id", ev.DocumentID), zap.Int64("offset", m.Offset),
			zap.String("code", string(errs.CodeOf(err))), zap.Error(err))
		in.report(ev)
		return nil
	}
	sum := sha256.Sum256(m.Value)
	hexSum := hex.EncodeToString(sum[:])
	switch h := strings.ToLower(m.Header(HeaderSHA256)); {
	case h == "":
		return refuse(errs.E(errs.BadRequest, "no %s header: not delivered by the axis", HeaderSHA256))
	case h != hexSum:
		return refuse(errs.E(errs.SignatureInvalid, "%s header %.16s… does not match the bytes (sha256 %.16s…): altered in transit",
			HeaderSHA256, h, hexSum))
	}
	res, err := in.cfg.Checker.Check(m.Value)
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

// handlePackage writes the package and answers it. The answer goes through two names in
// sent/: a pending file, written before publishing, and the final name, given once Kafka
// acknowledged it. A redelivery then knows where the first attempt stopped: a final
// answer means it was all done (Duplicate, nothing is published again); a pending one is
// published again byte for byte (the axis records identical bytes once), so the agency
// never signs two different 01s for one package.
func (in *Inbox) handlePackage(ctx context.Context, m bus.Message, res *verify.Result, hexSum string, ev Event) error {
	path, _, err := place(in.cfg.Dir, SafeName(res.DocumentID), hexSum, ".edxml", m.Value)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "writing %s", path)
	}
	ev.File = path
	sent := filepath.Join(in.cfg.Dir, SentDir, AnswerFile(filepath.Base(path)))
	pending := filepath.Join(in.cfg.Dir, SentDir, ".pending-"+filepath.Base(sent))
	switch _, err := os.Stat(sent); {
	case err == nil:
		ev.Kind = Duplicate
		in.log.Info("package delivered again; already written and answered", zap.String("document_id", res.DocumentID),
			zap.String("file", path))
		in.report(ev)
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return errs.Wrap(errs.Unavailable, err, "reading %s", sent)
	}
	answer, err := in.answer(res, pending)
	if err != nil {
		return err
	}
	msg := bus.Message{Topic: TopicStatus, Key: []byte(res.DocumentID), Value: answer, Headers: []bus.Header{
		{Key: HeaderType, Value: []byte("status")},
		{Key: HeaderDocID, Value: []byte(res.DocumentID)},
		{Key: HeaderFrom, Value: []byte(in.cfg.Agency)},
		{Key: HeaderSHA256, Value: []byte(sha256Hex(answer))},
	}}
	if err := in.cfg.Publisher.Publish(ctx, msg); err != nil {
		return err
	}
	if err := os.Rename(pending, sent); err != nil {
		return errs.Wrap(errs.Unavailable, err, "keeping the answer %s", sent)
	}
	if err := syncDir(filepath.Dir(sent)); err != nil {
		return errs.Wrap(errs.Unavailable, err, "keeping the answer %s", sent)
	}
	ev.Kind = Arrived
	in.log.Info("package delivered", zap.String("document_id", res.DocumentID), zap.String("from", res.From),
		zap.String("file", path))
	in.report(ev)
	return nil
}

// answer returns the pending signed 01 for a package, signing and keeping a new one if
// there is none.
func (in *Inbox) answer(res *verify.Result, path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, errs.Wrap(errs.Unavailable, err, "reading %s", path)
	}
	st, err := NewStatus(StatusRequest{DocumentID: res.DocumentID, Code: envelope.StatusArrived, From: in.cfg.Organ,
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

func (in *Inbox) handleStatus(res *verify.Result, b []byte, hexSum string, ev Event) error {
	ev.Code = res.Status.StatusCode
	stem := SafeName(res.DocumentID) + "." + SafeName(ev.Code) + "." + SafeName(res.From)
	path, dup, err := place(filepath.Join(in.cfg.Dir, StatusDir), stem, hexSum, ".xml", b)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "writing %s", path)
	}
	ev.File, ev.Kind = path, Status
	if dup {
		ev.Kind = Duplicate
	}
	in.log.Info("status received", zap.String("document_id", res.DocumentID), zap.String("from", res.From),
		zap.String("code", ev.Code), zap.String("file", path), zap.Bool("duplicate", dup))
	in.report(ev)
	return nil
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
