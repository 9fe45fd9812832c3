// Package audittest provides a fake checkpoint signer for tests: an Ed25519 signature in a
// non-XML-DSig element, so the audit and store packages can be tested without the signing
// package while still detecting any change to a signed attestation.
package audittest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
)

const (
	open  = `<FakeSignature xmlns="urn:axis:test:fake-signature">`
	close = `</FakeSignature>`
)

// Signer signs attestations with an Ed25519 key.
type Signer struct {
	Key ed25519.PrivateKey
}

// NewSigner returns a signer with a key derived from seed (deterministic for golden files).
func NewSigner(seed byte) *Signer {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return &Signer{Key: ed25519.NewKeyFromSeed(s)}
}

// Sign inserts a FakeSignature element as the last child of the root.
func (s *Signer) Sign(doc []byte) ([]byte, error) {
	i := bytes.LastIndex(doc, []byte("</"))
	if i < 0 {
		return nil, errors.New("fake signer: no closing tag")
	}
	sig := ed25519.Sign(s.Key, doc)
	out := append([]byte{}, doc[:i]...)
	out = append(out, open...)
	out = append(out, base64.StdEncoding.EncodeToString(sig)...)
	out = append(out, close...)
	return append(out, doc[i:]...), nil
}

// Verifier returns a CheckpointVerifier-compatible function for the signer's public key.
func (s *Signer) Verifier() func([]byte) ([]byte, error) {
	pub := s.Key.Public().(ed25519.PublicKey)
	return func(signed []byte) ([]byte, error) {
		i := bytes.Index(signed, []byte(open))
		j := bytes.Index(signed, []byte(close))
		if i < 0 || j < i {
			return nil, errors.New("fake signature missing")
		}
		sig, err := base64.StdEncoding.DecodeString(string(signed[i+len(open) : j]))
		if err != nil {
			return nil, err
		}
		doc := append(append([]byte{}, signed[:i]...), signed[j+len(close):]...)
		if !ed25519.Verify(pub, doc, sig) {
			return nil, errors.New("fake signature invalid")
		}
		return doc, nil
	}
}
