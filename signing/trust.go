package signing

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// TrustStore holds the trusted roots, the known intermediates and the revocation lists
// (SPEC §3). It is immutable once loaded; to reload, load a new one and build a new
// Verifier (whose chain cache then starts empty).
type TrustStore struct {
	roots     []*x509.Certificate
	inters    []*x509.Certificate
	rootPool  *x509.CertPool
	interPool *x509.CertPool
	// revoked maps an issuer name (DER subject) to the serial numbers its CRLs revoke.
	// Keyed by name, not key (RFC 5280 §6.3.3; serials are unique per issuer name,
	// §4.1.2.2): after a CA key rollover the CRL signed with the new key still revokes
	// certificates issued under the old one. Every CRL was signed by a CA certificate
	// of the store with that name, and the CRLs of one name (the old key's last, the new
	// key's) are merged: a revocation in either counts.
	revoked map[string]map[string]revocation
	crls    []CRLInfo
	ignored int
}

// CRLInfo describes a loaded CRL.
type CRLInfo struct {
	Issuer     string // the issuing CA's subject
	ThisUpdate time.Time
	NextUpdate time.Time // zero: the CRL names none
}

// Stale reports whether the CRL is past its next update at now: what it revokes stays
// revoked, but revocations issued since are unknown until the current CRL is installed.
func (c CRLInfo) Stale(now time.Time) bool { return !c.NextUpdate.IsZero() && now.After(c.NextUpdate) }

// LoadTrust reads a PEM file, or a directory read whole (*.pem, *.crt, *.crl; not
// recursive). Self-signed CA certificates become roots, other CA certificates
// intermediates, non-CA certificates are ignored (so a development PKI directory
// can be given as is). CRLs may be PEM or DER; each must be signed by a CA certificate
// of the store, else loading fails: a CRL that cannot be checked is a configuration
// error, not something to skip silently.
func LoadTrust(path string) (*TrustStore, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".pem", ".crt", ".crl":
				if e.Type().IsRegular() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
	}
	var certs []*x509.Certificate
	var crls [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		c, l, err := parseTrustFile(b)
		if err != nil {
			return nil, fmt.Errorf("trust: %s: %w", f, err)
		}
		certs = append(certs, c...)
		crls = append(crls, l...)
	}
	ts, err := NewTrustStore(certs, crls)
	if err != nil {
		return nil, fmt.Errorf("trust: %s: %w", path, err)
	}
	return ts, nil
}

func parseTrustFile(b []byte) ([]*x509.Certificate, [][]byte, error) {
	var certs []*x509.Certificate
	var crls [][]byte
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		// DER: a certificate (.crt) or a CRL (.crl)
		if c, err := x509.ParseCertificate(b); err == nil {
			return []*x509.Certificate{c}, nil, nil
		}
		if _, err := x509.ParseRevocationList(b); err == nil {
			return nil, [][]byte{b}, nil
		}
		return nil, nil, errors.New("neither PEM nor a DER certificate or CRL")
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, nil, err
			}
			certs = append(certs, c)
		case "X509 CRL":
			crls = append(crls, blk.Bytes)
		}
	}
	return certs, crls, nil
}

// NewTrustStore builds a store from certificates and DER CRLs (see LoadTrust).
func NewTrustStore(certs []*x509.Certificate, crls [][]byte) (*TrustStore, error) {
	ts := &TrustStore{
		rootPool:  x509.NewCertPool(),
		interPool: x509.NewCertPool(),
		revoked:   map[string]map[string]revocation{},
	}
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			ts.ignored++
			continue
		}
		if slices.ContainsFunc(ts.roots, c.Equal) || slices.ContainsFunc(ts.inters, c.Equal) {
			continue
		}
		if isSelfSigned(c) {
			ts.roots = append(ts.roots, c)
			ts.rootPool.AddCert(c)
		} else {
			ts.inters = append(ts.inters, c)
			ts.interPool.AddCert(c)
		}
	}
	if len(ts.roots) == 0 {
		return nil, errors.New("no trusted root (self-signed CA certificate)")
	}
	for _, der := range crls {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("CRL: %w", err)
		}
		var issuer *x509.Certificate
		for _, c := range slices.Concat(ts.roots, ts.inters) {
			if bytes.Equal(c.RawSubject, crl.RawIssuer) && crlSignedBy(crl, c) {
				issuer = c
				break
			}
		}
		if issuer == nil {
			return nil, fmt.Errorf("CRL of %q: no CA certificate in the store has signed it", crl.Issuer)
		}
		set := ts.revoked[string(issuer.RawSubject)]
		if set == nil {
			set = map[string]revocation{}
			ts.revoked[string(issuer.RawSubject)] = set
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.ReasonCode == reasonRemoveFromCRL { // delta CRLs only: not a revocation
				continue
			}
			r := revocation{at: e.RevocationTime, compromise: slices.Contains(compromiseReasons, e.ReasonCode)}
			if had, ok := set[e.SerialNumber.String()]; ok { // several CRLs: the strictest
				r.compromise = r.compromise || had.compromise
				if had.at.Before(r.at) {
					r.at = had.at
				}
			}
			set[e.SerialNumber.String()] = r
		}
		ts.crls = append(ts.crls, CRLInfo{Issuer: issuer.Subject.String(), ThisUpdate: crl.ThisUpdate, NextUpdate: crl.NextUpdate})
	}
	return ts, nil
}

// crlSignedBy checks the CRL's signature, SHA-1 included (legacy CAs): a CRL can only
// revoke, so accepting an old hash here never lets a certificate through.
func crlSignedBy(crl *x509.RevocationList, c *x509.Certificate) bool {
	err := crl.CheckSignatureFrom(c)
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) && (crl.SignatureAlgorithm == x509.SHA1WithRSA || crl.SignatureAlgorithm == x509.ECDSAWithSHA1) &&
		c.IsCA && (c.KeyUsage == 0 || c.KeyUsage&x509.KeyUsageCRLSign != 0) {
		err = checkSHA1(c.PublicKey, crl.RawTBSRevocationList, crl.Signature)
	}
	return err == nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// Roots returns the trusted root certificates.
func (ts *TrustStore) Roots() []*x509.Certificate { return slices.Clone(ts.roots) }

// Intermediates returns the intermediate CA certificates of the store.
func (ts *TrustStore) Intermediates() []*x509.Certificate { return slices.Clone(ts.inters) }

// Summary is a one-line description for start-up logs.
func (ts *TrustStore) Summary() string {
	return fmt.Sprintf("%d roots, %d intermediates, %d CRLs, %d non-CA certificates ignored",
		len(ts.roots), len(ts.inters), len(ts.crls), ts.ignored)
}

// CRLs lists the loaded CRLs, in the order they were given.
func (ts *TrustStore) CRLs() []CRLInfo { return slices.Clone(ts.crls) }

// revocation is a CRL entry: from when, and whether for a compromise.
type revocation struct {
	at         time.Time
	compromise bool
}

// RFC 5280 reason codes: a compromised key (or CA) makes every signature of the
// certificate untrustworthy, whenever made; other revocations (superseded, cessation of
// operation, affiliation changed, unspecified…) end its validity at the revocation time.
const reasonRemoveFromCRL = 8

var compromiseReasons = []int{1, 2, 10} // keyCompromise, cACompromise, aACompromise

// revokedIn returns the first certificate of chain (leaf first, root last) that a loaded
// CRL of its issuer revokes at now, or nil; and until, the earliest later revocation of
// the chain (zero if none), up to which the chain stays valid. now is the verification
// time: the present for a submission, the signing time claimed by an audit checkpoint,
// so that an axis identity revoked when it was replaced still verifies the checkpoints it
// signed before (and none after), unless its key was compromised.
func (ts *TrustStore) revokedIn(chain []*x509.Certificate, now time.Time) (revoked *x509.Certificate, until time.Time) {
	for i := 0; i+1 < len(chain); i++ {
		// The certificate's issuer name (chain building matched it byte for byte to
		// chain[i+1]'s subject), whichever key of that CA signed it.
		set := ts.revoked[string(chain[i].RawIssuer)]
		r, ok := set[chain[i].SerialNumber.String()]
		switch {
		case !ok:
		case r.compromise || !now.Before(r.at):
			return chain[i], time.Time{}
		case until.IsZero() || r.at.Before(until):
			until = r.at
		}
	}
	return nil, until
}
