// Package verify is the whole check of an incoming edXML document, in the order that
// makes every refusal carry the right SPEC §6 code: size and well-formedness, then the
// XML-DSig signature and certificate chain, then the envelope read ONLY from the element
// the signature covers, then the registry and the binding of the signer to the sender.
// The CLI's `axis verify`, HTTP intake, the drop directory and the axis.status consumer
// all go through it.
package verify

import (
	"crypto/sha256"
	"encoding/hex"

	"axis/axis/errs"
	"axis/axis/receipt"
	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
)

// Checker verifies documents. It is safe for concurrent use.
type Checker struct {
	verifier *signing.Verifier
	registry *registry.Registry // nil: no agency checks, bind by serialNumber only
	limits   envelope.Limits
	identity string // SHA-256 fingerprint of the axis identity certificate, if pinned
}

// New returns a Checker. reg may be nil for offline verification without a registry.
func New(v *signing.Verifier, reg *registry.Registry, lim envelope.Limits) *Checker {
	return &Checker{verifier: v, registry: reg, limits: lim}
}

// WithIdentity returns a Checker that accepts acceptance receipts only from the axis
// identity certificate of this SHA-256 fingerprint (hex); without, from any certificate
// whose subject serialNumber is "axis", as audit checkpoints.
func (c *Checker) WithIdentity(fingerprint string) *Checker {
	cp := *c
	cp.identity = fingerprint
	return &cp
}

// Result is what a verified document says, read from the signed element only.
type Result struct {
	Kind       envelope.Kind
	SHA256     string // hex of the exact bytes checked
	DocumentID string // the package's DocumentId, or the DocumentId a status is about
	From       string // the sending agency, bound to the signer
	Package    *envelope.Package
	Status     *envelope.Status
	Receipt    *receipt.Receipt // an axis acceptance receipt (Kind is KindUnknown)
	Signed     *signing.Verified
}

// Check verifies b completely. Every error carries an errs code.
func (c *Checker) Check(b []byte) (*Result, error) {
	sum := sha256.Sum256(b)
	doc, err := envelope.ReadDocument(b, c.limits)
	if err != nil {
		return nil, err
	}
	v := c.verifier
	// An acceptance receipt attests a past moment: it is verified at the time it claims,
	// as audit checkpoints are, so that it still verifies after the axis identity expired
	// or was replaced and revoked (a revocation for a compromise still refuses it).
	claimed, isReceipt := receipt.ClaimedTime(doc.Root())
	if isReceipt {
		v = c.verifier.At(claimed)
	}
	signed, err := v.Verify(doc)
	if err != nil {
		return nil, err
	}
	res := &Result{SHA256: hex.EncodeToString(sum[:]), Signed: signed}
	root := signed.Root
	if receipt.Is(root) {
		// Signed by the axis identity, not an agency; From names the signer.
		if err := axisIdentity(signed, c.identity); err != nil {
			return nil, err
		}
		r, err := receipt.Decode(root)
		if err != nil {
			return nil, err
		}
		if !isReceipt || !r.AcceptedAt.Equal(claimed) {
			return nil, errs.E(errs.SignatureInvalid, "the receipt's signed AcceptedAt is not the time it was verified at")
		}
		res.Receipt, res.DocumentID, res.From = &r, r.DocumentID, signerName(signed)
		return res, nil
	}
	if res.Kind, err = envelope.KindOf(root); err != nil {
		return nil, err
	}
	var recipients []string
	switch res.Kind {
	case envelope.KindPackage:
		p, err := envelope.DecodePackage(root)
		if err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		res.Package, res.DocumentID, res.From = p, p.DocumentID, p.From.OrganID
		recipients = p.Recipients()
	case envelope.KindStatus:
		s, err := envelope.DecodeStatus(root)
		if err != nil {
			return nil, err
		}
		if err := s.Validate(); err != nil {
			return nil, err
		}
		res.Status, res.DocumentID, res.From = s, s.ResponseFor.DocumentID, s.From.OrganID
	default:
		return nil, errs.E(errs.InvalidEnvelope, "not an edXML package or status message")
	}
	var fingerprints []string
	if c.registry != nil {
		reg := c.registry.Snapshot() // one registry for all three, whatever a reload does meanwhile
		if err := reg.Require("sender", res.From); err != nil {
			return nil, err
		}
		if err := reg.Require("recipient", recipients...); err != nil {
			return nil, err
		}
		fingerprints = reg.Fingerprints(res.From)
	}
	if err := signing.CheckSender(signed, res.From, fingerprints); err != nil {
		return nil, err
	}
	return res, nil
}

func signerName(v *signing.Verified) string {
	for _, n := range v.Signer.Subject.Names {
		if n.Type.String() == "2.5.4.5" {
			if s, ok := n.Value.(string); ok && s != "" {
				return s
			}
		}
	}
	return v.Signer.Subject.CommonName
}
