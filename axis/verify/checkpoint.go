package verify

import (
	"fmt"
	"time"

	"github.com/beevik/etree"

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
		switch {
		case pinned != "" && v.Fingerprint != pinned:
			return nil, fmt.Errorf("signed by %s, not the axis identity certificate", v.Signer.Subject)
		case pinned == "" && v.Signer.Subject.SerialNumber != "axis":
			return nil, fmt.Errorf("signed by %s, not the axis identity (serialNumber axis)", v.Signer.Subject)
		}
		out := etree.NewDocument()
		out.SetRoot(v.Root)
		return out.WriteToBytes()
	})
}
