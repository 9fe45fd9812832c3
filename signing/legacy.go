package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"axis/axis/errs"
)

// Certificates signed with SHA-1 (the Government CA's older ones) are refused by
// crypto/x509 whatever the caller allows. Under AllowSHA1 (--allow-sha1) a chain that
// crypto/x509 refused is built again here, checking SHA-1 signatures itself, and kept
// only if it would have passed crypto/x509 but for them. What this path does not
// implement (name constraints, unknown critical extensions) makes it refuse.

// sha1Signed reports whether c is signed with SHA-1.
func sha1Signed(c *x509.Certificate) bool {
	return c.SignatureAlgorithm == x509.SHA1WithRSA || c.SignatureAlgorithm == x509.ECDSAWithSHA1
}

// checkSignedBy checks that parent signed c, SHA-1 included.
func checkSignedBy(c, parent *x509.Certificate) error {
	if !sha1Signed(c) {
		return c.CheckSignatureFrom(parent)
	}
	if !parent.BasicConstraintsValid || !parent.IsCA {
		return errors.New("issuer is not a CA")
	}
	if parent.KeyUsage != 0 && parent.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("issuer may not sign certificates")
	}
	return checkSHA1(parent.PublicKey, c.RawTBSCertificate, c.Signature)
}

func checkSHA1(pub any, signed, sig []byte) error {
	sum := sha1.Sum(signed)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA1, sum[:], sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, sum[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported issuer key %T", pub)
}

// legacyChain returns the chain from leaf to a trusted root through extra, the store's
// intermediates and roots, valid at now, when one of its signatures is SHA-1 and the
// rest holds as crypto/x509 would check it; else nil.
func legacyChain(ts *TrustStore, leaf *x509.Certificate, extra []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	pool := slices.Concat(extra, ts.inters, ts.roots)
	// Each certificate is tried as an issuer once, and signature checks are capped:
	// KeyInfo is the sender's, and certificates that sign one another would otherwise
	// make the search exponential.
	tried := make([]bool, len(pool))
	checks := 0
	var walk func(chain []*x509.Certificate) []*x509.Certificate
	walk = func(chain []*x509.Certificate) []*x509.Certificate {
		cur := chain[len(chain)-1]
		if slices.ContainsFunc(ts.roots, cur.Equal) {
			return chain
		}
		if len(chain) > 8 {
			return nil
		}
		for i, c := range pool {
			if tried[i] || !bytes.Equal(c.RawSubject, cur.RawIssuer) || slices.ContainsFunc(chain, c.Equal) ||
				now.Before(c.NotBefore) || now.After(c.NotAfter) {
				continue
			}
			if checks++; checks > 32 {
				return nil
			}
			if checkSignedBy(cur, c) != nil {
				continue
			}
			tried[i] = true
			if found := walk(append(slices.Clip(chain), c)); found != nil {
				return found
			}
		}
		return nil
	}
	chain := walk([]*x509.Certificate{leaf})
	if chain == nil || !slices.ContainsFunc(chain[:len(chain)-1], sha1Signed) {
		return nil, errors.New("no chain to a trusted root, SHA-1 signatures allowed")
	}
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, errs.E(errs.CertificateExpired, "certificate %q is valid from %s to %s",
				c.Subject, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
		}
		if len(c.UnhandledCriticalExtensions) > 0 {
			return nil, fmt.Errorf("certificate %q has critical extensions this check does not handle", c.Subject)
		}
		if i == 0 {
			continue
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("issuer %q is not a CA", c.Subject)
		}
		if len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
			len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0 {
			return nil, fmt.Errorf("issuer %q has name constraints, which this check does not handle", c.Subject)
		}
		// Intermediate CAs below c: chain[1:i].
		if c.MaxPathLen >= 0 && (c.MaxPathLen > 0 || c.MaxPathLenZero) && i-1 > c.MaxPathLen {
			return nil, fmt.Errorf("issuer %q allows a path of %d CAs below it", c.Subject, c.MaxPathLen)
		}
	}
	return chain, nil
}
