package axis

import (
	"fmt"
	"time"

	"github.com/beevik/etree"

	"axis/signing"
	"axis/store/audit"
)

// checkpointVerifier checks a checkpoint's XML-DSig against the daemon's trust store, at
// the time the checkpoint states (an identity certificate renewed since still proves
// old checkpoints), and requires the signer to be an axis identity (subject
// serialNumber "axis"), as `axis audit verify --trust` does by default.
func checkpointVerifier(ts *signing.TrustStore) audit.CheckpointVerifier {
	return audit.VerifierFunc(func(signed []byte) ([]byte, error) {
		claimed, err := audit.ParseAttestation(signed) // only for the verification time
		if err != nil {
			return nil, err
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(signed); err != nil {
			return nil, err
		}
		v, err := signing.NewVerifier(ts, signing.Options{Now: func() time.Time { return claimed.Time }}).Verify(doc)
		if err != nil {
			return nil, err
		}
		if v.Signer.Subject.SerialNumber != "axis" {
			return nil, fmt.Errorf("signed by %s, not the axis identity (serialNumber axis)", v.Signer.Subject)
		}
		out := etree.NewDocument()
		out.SetRoot(v.Root)
		return out.WriteToBytes()
	})
}
