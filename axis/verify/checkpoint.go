package verify

import (
	"time"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/envelope"
	"axis/signing"
	"axis/store/audit"
)

// Checkpoints verifies the XML-DSig of audit checkpoints (SPEC §9) against ts, at the
// time each checkpoint states (an identity certificate renewed since still proves old
// checkpoints). The signer must be the axis identity: the certificate with this SHA-256
// fingerprint when pinned is set, else any certificate whose subject serialNumber is
// "axis" (what the development PKI issues).
func Checkpoints(ts *signing.TrustStore, pinned string) audit.CheckpointVerifier {
	return CheckpointsFrom(func() *signing.TrustStore { return ts }, pinned)
}

// CheckpointsFrom is Checkpoints against the trust store trust returns at each
// verification (the daemon's, which can be reloaded).
func CheckpointsFrom(trust func() *signing.TrustStore, pinned string) audit.CheckpointVerifier {
	return audit.VerifierFunc(func(signed []byte) ([]byte, error) {
		claimed, err := audit.ParseAttestation(signed) // only for the verification time
		if err != nil {
			return nil, err
		}
		doc, err := envelope.ReadDocument(signed, envelope.DefaultLimits())
		if err != nil {
			return nil, err
		}
		v, err := signing.NewVerifier(trust(), signing.Options{Now: func() time.Time { return claimed.Time }}).Verify(doc)
		if err != nil {
			return nil, err
		}
		if err := axisIdentity(v, pinned); err != nil {
			return nil, err
		}
		out := etree.NewDocument()
		out.SetRoot(v.Root)
		return out.WriteToBytes()
	})
}

// axisIdentity refuses what the axis identity did not sign: with pinned set, any other
// certificate than the one of that SHA-256 fingerprint; without, one whose subject
// serialNumber is not "axis" (what `axis pki init` issues; an agency's carries its
// OrganId). A chain to the national root alone proves an agency as well as the axis.
func axisIdentity(v *signing.Verified, pinned string) error {
	switch {
	case pinned != "" && v.Fingerprint != pinned:
		return errs.E(errs.SenderMismatch, "signed by %s, not the axis identity certificate", v.Signer.Subject)
	case pinned == "" && v.Signer.Subject.SerialNumber != "axis":
		return errs.E(errs.SenderMismatch, "signed by %s, not the axis identity (serialNumber axis)", v.Signer.Subject)
	}
	return nil
}
