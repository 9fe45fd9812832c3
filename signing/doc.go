// Package signing knows XML-DSig for edXML (SPEC §3): enveloped signatures over the
// whole document (Reference URI=""), trust stores (roots, intermediates, CRLs),
// verification of every rule of SPEC §3 with its public error code, and the sender
// binding.
//
// Use:
//
//	ts, err := signing.LoadTrust("/etc/axis/trust")        // file or directory
//	v := signing.NewVerifier(ts, signing.Options{AllowSHA1: false, Logger: log})
//	res, err := v.Verify(doc)                              // doc: *etree.Document, parsed once by the caller
//	err = signing.CheckSender(res, fromOrganID, registryFingerprints)
//	// read fields from res.Root only
//
//	s := &signing.Signer{Key: key, Cert: cert, Chain: intermediates}
//	signed, err := s.SignBytes(pkg)                        // or s.Sign(doc)
//
// Design notes:
//   - Verification does not call goxmldsig's Validate: it copies the document twice and
//     re-parses the canonical bytes (about 10x slower than this package on a 5 KB
//     package, ~40 MB of garbage for a 5 MB one, see BenchmarkGoxmldsigValidate), has a
//     traversal limit, does no chain validation and accepts a missing KeyInfo. This
//     package streams its own canonicalization (C14N 1.0/1.1, exclusive C14N) straight
//     into the digest; tests check it byte for byte against goxmldsig's canonicalizers
//     and against xmlsec1 both ways.
//   - Verify normalises the caller's tree in place (comments removed, adjacent text
//     joined) and detaches the Signature on success, so Verified.Root is exactly the
//     digested node set. Keep the original bytes for storage and delivery.
//   - ECDSA SignatureValues are written as r||s (XML-DSig, xmlsec1); DER is accepted too.
//   - Known limit: encoding/xml does not normalise literal TAB/LF/CR in attribute values
//     as XML requires, so a document whose attribute values contain those characters
//     literally (not as character references) canonicalizes differently from xmlsec1.
package signing
