package agency

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/axis/registry"
	"axis/envelope"
)

// TestRetryRefused: a package refused for a reason of this side (a registry without its
// sender, a size limit) is kept with how it was delivered; once the inbox is configured
// right, RetryRefused writes and answers it, as if it had just arrived, and takes it out
// of refused/. One still refused stays, with the new reason.
func TestRetryRefused(t *testing.T) {
	f := testFixture(t)
	stale, err := registry.Parse([]byte(`{"agencies":[{"id":"` + recipient + `","name":"r"},{"id":"` + other + `","name":"o"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	full, err := registry.Load("../../testdata/agencies.json")
	if err != nil {
		t.Fatal(err)
	}
	r := newInboxWith(t, Config{Verifier: f.verifier, Registry: stale})
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	m := acceptedAt(delivery(f.decree, "edoc"), at)
	m.Topic, m.Offset = InboxTopic(recipient), 41
	if err := r.in.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	name := PackageFile(docID, hexSHA(f.decree))
	kept := filepath.Join(r.dir, RefusedDir, name)
	var body refusedBody
	if b, err := os.ReadFile(kept + ErrorSuffix); err != nil || json.Unmarshal(b, &body) != nil || body.Delivery == nil {
		t.Fatalf("the refusal's delivery is not kept: %v\n%s", err, b)
	}
	if body.Error.Code != string(errs.UnknownAgency) || body.Delivery.Offset != 41 ||
		body.Delivery.Headers[HeaderAcceptedAt] != at.Format(time.RFC3339) || body.Delivery.Headers[HeaderSHA256] != hexSHA(f.decree) {
		t.Fatalf("kept: %+v", body)
	}

	// Still misconfigured (a smaller limit now): refused again, kept, the reason updated.
	small, err := NewInbox(Config{Agency: recipient, Dir: r.dir, Signer: f.signers[recipient], Publisher: r.mb,
		Verifier: f.verifier, Limits: envelope.Limits{MaxBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := small.RetryRefused(context.Background())
	if err != nil || res != (RetryResult{Refused: 1}) {
		t.Fatalf("retry with a small limit: %+v %v", res, err)
	}
	checkRefused(t, r.dir, name, f.decree, errs.TooLarge)

	// Fixed: the full registry. Written, answered once, gone from refused/.
	fixed, err := NewInbox(Config{Agency: recipient, Dir: r.dir, Signer: f.signers[recipient], Publisher: r.mb,
		Verifier: f.verifier, Registry: full})
	if err != nil {
		t.Fatal(err)
	}
	res, err = fixed.RetryRefused(context.Background())
	if err != nil || res != (RetryResult{Handled: 1}) {
		b, _ := os.ReadFile(kept + ErrorSuffix)
		t.Fatalf("retry once fixed: %+v %v\n%s", res, err, b)
	}
	if b, err := os.ReadFile(filepath.Join(r.dir, name)); err != nil || string(b) != string(f.decree) {
		t.Fatalf("the package is not in --out: %v", err)
	}
	if n := len(r.mb.Messages(TopicStatus)); n != 1 {
		t.Fatalf("%d answers, want one 01", n)
	}
	for _, p := range []string{kept, kept + ErrorSuffix} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still in refused/ (%v)", p, err)
		}
	}
	// Nothing left to retry; the axis's redelivery is a duplicate.
	if res, err := fixed.RetryRefused(context.Background()); err != nil || res != (RetryResult{}) {
		t.Fatalf("second retry: %+v %v", res, err)
	}
	if err := fixed.Handle(context.Background(), m); err != nil || fixed.Counts().Duplicates != 1 {
		t.Fatalf("redelivery after the retry: %v %+v", err, fixed.Counts())
	}
}

// TestRetryRefusedWhileConsuming: a retry (after SIGHUP) and the consumer's redelivery of
// the same package run one after the other: it is written and answered once.
func TestRetryRefusedWhileConsuming(t *testing.T) {
	f := testFixture(t)
	full, err := registry.Load("../../testdata/agencies.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r := newInboxWith(t, Config{Verifier: f.verifier, Limits: envelope.Limits{MaxBytes: 1024}})
		m := acceptedAt(delivery(f.decree, "edoc"), time.Now().Add(-time.Minute))
		if err := r.in.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		fixed, err := NewInbox(Config{Agency: recipient, Dir: r.dir, Signer: f.signers[recipient], Publisher: r.mb,
			Verifier: f.verifier, Registry: full})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := fixed.RetryRefused(context.Background()); done <- err }()
		if err := fixed.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(r.mb.Messages(TopicStatus)); n != 1 {
			t.Fatalf("round %d: %d answers, want 1", i, n)
		}
	}
}
