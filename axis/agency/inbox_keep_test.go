package agency

import (
	"bytes"
	"context"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"axis/axis/bus"
	"axis/axis/bus/membus"
	"axis/axis/errs"
	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// ownPKI is a root of its own and the decree signed by a sender leaf of the given
// validity, for tests that need certificates other than the shared fixture's.
type ownPKI struct {
	root   *devpki.Cert
	leaf   *devpki.Cert
	signed []byte
}

func newOwnPKI(t *testing.T, notBefore, notAfter time.Time) ownPKI {
	t.Helper()
	root, err := devpki.NewRoot(devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "own root"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: sender, CommonName: sender,
		NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := (&signing.Signer{Key: leaf.Key, Cert: leaf.Cert}).SignBytes(mustRead(t, "../../testdata/demo/decree.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	return ownPKI{root: root, leaf: leaf, signed: signed}
}

func (p ownPKI) trust(t *testing.T, crls ...[]byte) *signing.TrustStore {
	t.Helper()
	ts, err := signing.NewTrustStore([]*x509.Certificate{p.root.Cert}, crls)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// acceptedAt is a delivery carrying the axis-accepted-at header as the axis writes it.
func acceptedAt(m bus.Message, at time.Time) bus.Message {
	m.SetHeader(HeaderAcceptedAt, at.UTC().Format(time.RFC3339))
	return m
}

type inboxRun struct {
	in     *Inbox
	mb     *membus.Bus
	dir    string
	events *[]Event
}

func newInboxWith(t *testing.T, cfg Config) inboxRun {
	t.Helper()
	f := testFixture(t)
	mb := membus.New(membus.Options{})
	t.Cleanup(func() { mb.Close() })
	mb.EnsureTopics(context.Background(), TopicStatus)
	var events []Event
	cfg.Agency, cfg.Dir, cfg.Signer, cfg.Publisher = recipient, t.TempDir(), f.signers[recipient], mb
	cfg.Report = func(e Event) { events = append(events, e) }
	in, err := NewInbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inboxRun{in: in, mb: mb, dir: cfg.Dir, events: &events}
}

// A package is verified at the time the axis accepted it (axis-accepted-at), not when
// the inbox reads it: an agency that was offline, or behind, while the sender's
// certificate expired still receives and answers what the axis accepted while it was
// valid (review r3: it was refused certificate_expired, acknowledged, and lost). Without
// a usable header, or with one in the future, verification is at the current time.
func TestInboxVerifiesAtAcceptanceTime(t *testing.T) {
	now := time.Now()
	pki := newOwnPKI(t, now.Add(-24*time.Hour), now.Add(time.Hour))
	// The inbox reads two hours later, after the certificate expired.
	later := signing.NewVerifier(pki.trust(t), signing.Options{Now: func() time.Time { return now.Add(2 * time.Hour) }})
	unusable := delivery(pki.signed, "edoc")
	unusable.SetHeader(HeaderAcceptedAt, "yesterday")
	// A certificate that expired ten minutes ago (its root is valid from an hour ago),
	// read at the current time.
	old := newOwnPKI(t, now.Add(-24*time.Hour), now.Add(-10*time.Minute))
	current := signing.NewVerifier(old.trust(t), signing.Options{})
	for _, tc := range []struct {
		name string
		v    *signing.Verifier
		pki  ownPKI
		m    bus.Message
		want Kind
	}{
		{"accepted while valid", later, pki, acceptedAt(delivery(pki.signed, "edoc"), now), Arrived},
		{"no header", later, pki, delivery(pki.signed, "edoc"), Refused},
		{"unreadable header", later, pki, unusable, Refused},
		// The certificate was valid then, but a time that has not come is not one
		// the axis can have verified at.
		{"header in the future", later, pki, acceptedAt(delivery(pki.signed, "edoc"), now.Add(30*time.Minute)), Refused},
		{"accepted after it expired", current, old, acceptedAt(delivery(old.signed, "edoc"), now.Add(-5*time.Minute)), Refused},
		{"accepted before it expired", current, old, acceptedAt(delivery(old.signed, "edoc"), now.Add(-30*time.Minute)), Arrived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := tc.pki
			r := newInboxWith(t, Config{Verifier: tc.v})
			if err := r.in.Handle(context.Background(), tc.m); err != nil {
				t.Fatal(err)
			}
			ev := (*r.events)[0]
			if ev.Kind != tc.want {
				t.Fatalf("%s (%v), want %s", ev.Kind, ev.Err, tc.want)
			}
			answers := len(r.mb.Messages(TopicStatus))
			pkg := filepath.Join(r.dir, PackageFile(docID, hexSHA(pki.signed)))
			got, _ := os.ReadFile(pkg)
			if tc.want == Arrived {
				if !bytes.Equal(got, pki.signed) || answers != 1 {
					t.Fatalf("arrived, but %s holds %d bytes and %d answers were published", pkg, len(got), answers)
				}
				return
			}
			if got != nil || answers != 0 {
				t.Fatalf("refused, but written (%d bytes) or answered (%d)", len(got), answers)
			}
			checkRefused(t, r.dir, PackageFile(docID, hexSHA(pki.signed)), pki.signed, errs.CertificateExpired)
		})
	}
}

// A CRL loaded after the axis accepted a package, revoking the sender's certificate
// since (not for a key compromise), does not refuse it: the certificate was not revoked
// when the axis vouched for it. Without the acceptance time it is refused, and kept.
func TestInboxAcceptsPackageRevokedAfterAcceptance(t *testing.T) {
	now := time.Now()
	pki := newOwnPKI(t, now.Add(-24*time.Hour), now.Add(24*time.Hour))
	crl, err := devpki.NewCRL(pki.root, []*big.Int{pki.leaf.Cert.SerialNumber}, now) // revoked a minute ago
	if err != nil {
		t.Fatal(err)
	}
	v := signing.NewVerifier(pki.trust(t, crl), signing.Options{})
	r := newInboxWith(t, Config{Verifier: v})
	ctx := context.Background()
	if err := r.in.Handle(ctx, acceptedAt(delivery(pki.signed, "edoc"), now.Add(-30*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if ev := (*r.events)[0]; ev.Kind != Arrived {
		t.Fatalf("accepted before the revocation: %s (%v)", ev.Kind, ev.Err)
	}
	r2 := newInboxWith(t, Config{Verifier: v})
	if err := r2.in.Handle(ctx, delivery(pki.signed, "edoc")); err != nil {
		t.Fatal(err)
	}
	if ev := (*r2.events)[0]; ev.Kind != Refused || !errs.Is(ev.Err, errs.CertificateRevoked) {
		t.Fatalf("at the current time: %s (%v), want certificate_revoked", ev.Kind, ev.Err)
	}
	checkRefused(t, r2.dir, PackageFile(docID, hexSHA(pki.signed)), pki.signed, errs.CertificateRevoked)
}

// A refusal that depends on this side, not on the package (a local --registry older than
// the axis's, a smaller local --max-package-bytes), is kept in refused/ with its error
// body, durably, before the message is acknowledged (review r3: it was acknowledged and
// written nowhere, and updating the registry could not bring it back). A redelivery
// keeps it once.
func TestInboxKeepsRefusalsThatDependOnThisSide(t *testing.T) {
	f := testFixture(t)
	stale, err := registry.Parse([]byte(`{"agencies":[{"id":"` + recipient + `","name":"r"},{"id":"` + other + `","name":"o"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		code errs.Code
	}{
		{"stale registry", Config{Verifier: f.verifier, Registry: stale}, errs.UnknownAgency},
		{"smaller size limit", Config{Verifier: f.verifier, Limits: envelope.Limits{MaxBytes: 1024}}, errs.TooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newInboxWith(t, tc.cfg)
			name := PackageFile(docID, hexSHA(f.decree))
			for i := 0; i < 2; i++ { // the second is a redelivery
				if err := r.in.Handle(context.Background(), delivery(f.decree, "edoc")); err != nil {
					t.Fatal(err)
				}
				if ev := (*r.events)[i]; ev.Kind != Refused || !errs.Is(ev.Err, tc.code) || ev.File != filepath.Join(r.dir, RefusedDir, name) {
					t.Fatalf("delivery %d: %+v", i, ev)
				}
				checkRefused(t, r.dir, name, f.decree, tc.code)
			}
			if _, err := os.Stat(filepath.Join(r.dir, name)); err == nil || len(r.mb.Messages(TopicStatus)) != 0 {
				t.Fatal("a refused package was written to --out or answered")
			}
		})
	}
}

// A refusal that cannot be kept is not acknowledged: Handle returns a transient error
// (the message is delivered again) and reports nothing; once refused/ can be written,
// the redelivery is kept and acknowledged.
func TestInboxRefusalThatCannotBeKeptIsRedelivered(t *testing.T) {
	f := testFixture(t)
	stale, err := registry.Parse([]byte(`{"agencies":[{"id":"` + recipient + `","name":"r"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := newInboxWith(t, Config{Verifier: f.verifier, Registry: stale})
	blocker := filepath.Join(r.dir, RefusedDir)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil { // refused/ cannot be made
		t.Fatal(err)
	}
	if err := r.in.Handle(context.Background(), delivery(f.decree, "edoc")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable (redelivered), got %v", err)
	}
	if len(*r.events) != 0 || r.in.Counts().Refused != 0 {
		t.Fatalf("reported although not acknowledged: %+v", *r.events)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := r.in.Handle(context.Background(), delivery(f.decree, "edoc")); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, r.dir, PackageFile(docID, hexSHA(f.decree)), f.decree, errs.UnknownAgency)
}

// Whether a package was handled is read from sent/ by its full sha256, never from
// --out, whose files the agency's document system takes away or changes. A redelivery
// of a package written and answered is a Duplicate: nothing is written back to --out
// (review r3: a taken file was written again and processed twice), no second copy is
// made and no second, different 01 is signed (review r3: a changed file was taken for a
// name collision).
func TestInboxRedeliveryIgnoresWhatBecameOfTheFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"taken from --out", func(t *testing.T, path string) {
			if err := os.Rename(path, filepath.Join(t.TempDir(), "registered.edxml")); err != nil {
				t.Fatal(err)
			}
		}},
		{"changed in place", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("registered as 123/VB-H41"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testFixture(t)
			r := newInboxWith(t, Config{Verifier: f.verifier})
			tick := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			r.in.cfg.Now = func() time.Time { tick = tick.Add(time.Second); return tick } // two answers would differ
			ctx := context.Background()
			if err := r.in.Handle(ctx, delivery(f.decree, "edoc")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(r.dir, PackageFile(docID, hexSHA(f.decree)))
			tc.change(t, path)
			before := listDir(t, r.dir)
			if err := r.in.Handle(ctx, delivery(f.decree, "edoc")); err != nil {
				t.Fatal(err)
			}
			if ev := (*r.events)[1]; ev.Kind != Duplicate || ev.File != path {
				t.Fatalf("redelivery: %+v", ev)
			}
			if after := listDir(t, r.dir); after != before {
				t.Fatalf("the redelivery changed --out:\n%s\n->\n%s", before, after)
			}
			if n := len(r.mb.Messages(TopicStatus)); n != 1 {
				t.Fatalf("%d answers published for one package", n)
			}
		})
	}
}

// A redelivery after the answer was signed but before Kafka acknowledged it publishes
// the same answer again, byte for byte, and does not write back a package file the
// agency's system took meanwhile: the pending answer proves it was written.
func TestInboxPendingAnswerDoesNotRewriteTakenFile(t *testing.T) {
	f := testFixture(t)
	in, _, dir := newTestInbox(t, recipient, failing{})
	ctx := context.Background()
	if err := in.Handle(ctx, delivery(f.decree, "edoc")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable, got %v", err)
	}
	pending, err := os.ReadFile(filepath.Join(dir, SentDir, ".pending-"+AnswerFile(docID, hexSHA(f.decree))))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PackageFile(docID, hexSHA(f.decree)))
	if err := os.Remove(path); err != nil { // taken by the agency's system
		t.Fatal(err)
	}
	mb := membus.New(membus.Options{})
	defer mb.Close()
	mb.EnsureTopics(ctx, TopicStatus)
	in.cfg.Publisher = mb
	if err := in.Handle(ctx, delivery(f.decree, "edoc")); err != nil {
		t.Fatal(err)
	}
	if m := mb.Messages(TopicStatus); len(m) != 1 || !bytes.Equal(m[0].Value, pending) {
		t.Fatal("the redelivery must publish the pending answer")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the package taken from --out was written back")
	}
	if final, _ := os.ReadFile(filepath.Join(dir, SentDir, AnswerFile(docID, hexSHA(f.decree)))); !bytes.Equal(final, pending) {
		t.Fatal("the published answer must be kept under its final name")
	}
}

// listDir lists every file under dir with its size and a hash of its bytes.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		v, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + hexSHA(v)[:12] + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
