// Package devpki generates a development PKI: a root CA, the daemon's identity and one
// signing certificate per agency, all as PEM files. It is for development and tests only;
// keys are written unencrypted.
package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeyType selects the key algorithm of a generated certificate.
type KeyType int

const (
	// RSA is RSA-2048, what the field uses; the default.
	RSA KeyType = iota
	// ECDSA is ECDSA on P-256.
	ECDSA
)

// OIDSerialNumber is the subject attribute serialNumber (2.5.4.5), which carries the OrganId.
var OIDSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// Default validity periods.
const (
	RootValidity = 20 * 365 * 24 * time.Hour
	LeafValidity = 10 * 365 * 24 * time.Hour
)

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertOptions describes a certificate to generate. Zero values take defaults.
type CertOptions struct {
	KeyType      KeyType
	Key          crypto.Signer // reuse an existing key (tests: RSA generation is slow)
	CommonName   string
	SerialNumber string // subject serialNumber (OID 2.5.4.5); OrganId for agency leaves
	Organization string
	NotBefore    time.Time // default: now - 1h
	NotAfter     time.Time // default: NotBefore + RootValidity (CA) or LeafValidity (leaf)
	// KeyUsage of a leaf; zero means digitalSignature|contentCommitment.
	KeyUsage x509.KeyUsage
}

func (o CertOptions) key() (crypto.Signer, error) {
	if o.Key != nil {
		return o.Key, nil
	}
	return NewKey(o.KeyType)
}

// NewKey generates a private key of the given type.
func NewKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("devpki: unknown key type %d", t)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func (o CertOptions) template(isCA bool) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	nb := o.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	}
	na := o.NotAfter
	if na.IsZero() {
		if isCA {
			na = nb.Add(RootValidity)
		} else {
			na = nb.Add(LeafValidity)
		}
	}
	subj := pkix.Name{CommonName: o.CommonName, SerialNumber: o.SerialNumber}
	if o.Organization != "" {
		subj.Organization = []string{o.Organization}
	}
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subj,
		NotBefore:    nb,
		NotAfter:     na,
	}
	if isCA {
		t.IsCA = true
		t.BasicConstraintsValid = true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		t.BasicConstraintsValid = true
		t.KeyUsage = o.KeyUsage
		if t.KeyUsage == 0 {
			t.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		}
	}
	return t, nil
}

func issue(t *x509.Certificate, key crypto.Signer, parent *Cert) (*Cert, error) {
	pc, pk := t, key
	if parent != nil {
		pc, pk = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, pc, key.Public(), pk)
	if err != nil {
		return nil, fmt.Errorf("devpki: create certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: c, Key: key}, nil
}

// NewRoot makes a self-signed root CA.
func NewRoot(o CertOptions) (*Cert, error) {
	if o.CommonName == "" {
		o.CommonName = "axis development root CA"
	}
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template(true)
	if err != nil {
		return nil, err
	}
	return issue(t, key, nil)
}

// NewIntermediate makes a CA certificate issued by parent.
func NewIntermediate(parent *Cert, o CertOptions) (*Cert, error) {
	if o.CommonName == "" {
		o.CommonName = "axis development intermediate CA"
	}
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template(true)
	if err != nil {
		return nil, err
	}
	return issue(t, key, parent)
}

// NewLeaf makes an end-entity signing certificate issued by parent.
func NewLeaf(parent *Cert, o CertOptions) (*Cert, error) {
	if parent == nil {
		return nil, errors.New("devpki: a leaf needs an issuer")
	}
	if o.CommonName == "" {
		o.CommonName = o.SerialNumber
	}
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template(false)
	if err != nil {
		return nil, err
	}
	return issue(t, key, parent)
}

// NewSelfSigned makes a self-signed end-entity certificate (for "untrusted" tests).
func NewSelfSigned(o CertOptions) (*Cert, error) {
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template(false)
	if err != nil {
		return nil, err
	}
	return issue(t, key, nil)
}

// NewCRL returns a DER CRL signed by issuer revoking the given serial numbers,
// valid from now for 30 days.
func NewCRL(issuer *Cert, revoked []*big.Int, now time.Time) ([]byte, error) {
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Minute)})
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(now.Unix()),
		ThisUpdate:                now.Add(-time.Hour),
		NextUpdate:                now.Add(30 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}
	return x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
}

// EncodeCerts returns the certificates as concatenated PEM blocks.
func EncodeCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// EncodeKey returns the key as an unencrypted PKCS#8 PEM block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeCRL returns a DER CRL as a PEM block.
func EncodeCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// WriteCerts writes the certificates to path as PEM.
func WriteCerts(path string, certs ...*x509.Certificate) error {
	return writeFile(path, EncodeCerts(certs...), 0o644)
}

// WriteKey writes the key to path as unencrypted PKCS#8 PEM, readable by the owner only.
func WriteKey(path string, key crypto.Signer) error {
	b, err := EncodeKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, b, 0o600)
}

// writeFile writes through a temporary file and a rename so a crash never leaves a
// half-written key or certificate that a later Init would keep.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devpki-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadKey reads a private key from a PEM file (PKCS#8, PKCS#1 or SEC 1).
func LoadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// ParseKey parses the first private key PEM block in b.
func ParseKey(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("devpki: no private key PEM block")
		}
		var k any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("devpki: parse %s: %w", blk.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("devpki: unsupported key type %T", k)
		}
		return s, nil
	}
}

// LoadCertificates reads every CERTIFICATE block of a PEM file, in file order
// (a chain file: leaf first, then its issuers).
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificates parses every CERTIFICATE block in b; at least one is required.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devpki: parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("devpki: no CERTIFICATE PEM block")
	}
	return out, nil
}

// Options configure Init.
type Options struct {
	KeyType KeyType          // default RSA
	Now     func() time.Time // default time.Now
	// Created, if set, is told of each certificate as soon as it is written (an RSA key
	// takes ~0.1 s: hundreds of agencies take a while).
	Created func(certPath string)
}

// Paths of the files Init writes under dir.
func RootCertPath(dir string) string { return filepath.Join(dir, "root.pem") }
func RootKeyPath(dir string) string  { return filepath.Join(dir, "root.key") }
func AxisCertPath(dir string) string { return filepath.Join(dir, "axis.pem") }
func AxisKeyPath(dir string) string  { return filepath.Join(dir, "axis.key") }
func AgencyCertPath(dir, organID string) string {
	return filepath.Join(dir, "agencies", organID+".pem")
}
func AgencyKeyPath(dir, organID string) string { return filepath.Join(dir, "agencies", organID+".key") }

// Init creates the development PKI under dir: root.pem/.key, axis.pem/.key (the daemon
// identity, serialNumber "axis", always ECDSA P-256) and agencies/<OrganId>.pem/.key for each agency
// (subject serialNumber and CN = OrganId). Existing files are kept, never overwritten;
// missing ones are issued by the existing root.
func Init(dir string, agencyIDs []string, o Options) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	for _, id := range agencyIDs {
		if err := checkID(id); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "agencies"), 0o755); err != nil {
		return err
	}
	nb := now().Add(-time.Hour).UTC().Truncate(time.Second)

	// pair is loadOrCreate, telling o.Created of a certificate it wrote.
	pair := func(certPath, keyPath string, create func() (*Cert, error), issuer *Cert) (*Cert, error) {
		existed := exists(certPath)
		c, err := loadOrCreate(certPath, keyPath, create, issuer)
		if err == nil && !existed && o.Created != nil {
			o.Created(certPath)
		}
		return c, err
	}
	root, err := pair(RootCertPath(dir), RootKeyPath(dir), func() (*Cert, error) {
		return NewRoot(CertOptions{KeyType: o.KeyType, NotBefore: nb, Organization: "axis development"})
	}, nil)
	if err != nil {
		return fmt.Errorf("devpki: root: %w", err)
	}
	leaf := func(id, cn string, kt KeyType) func() (*Cert, error) {
		return func() (*Cert, error) {
			return NewLeaf(root, CertOptions{KeyType: kt, NotBefore: nb, SerialNumber: id, CommonName: cn})
		}
	}
	// The axis identity signs a receipt for every accepted package and every audit
	// checkpoint: ECDSA P-256 signs in ~0.1 ms where RSA-2048 takes ~1.8 ms, and it sits
	// on the intake path. Agencies keep RSA, as in the field.
	if _, err := pair(AxisCertPath(dir), AxisKeyPath(dir), leaf("axis", "axis", ECDSA), root); err != nil {
		return fmt.Errorf("devpki: axis identity: %w", err)
	}
	for _, id := range agencyIDs {
		if _, err := pair(AgencyCertPath(dir, id), AgencyKeyPath(dir, id), leaf(id, id, o.KeyType), root); err != nil {
			return fmt.Errorf("devpki: agency %s: %w", id, err)
		}
	}
	return nil
}

// loadOrCreate keeps an existing certificate+key pair, or creates one when both are
// missing. Exactly one of the pair present is an error: overwriting either would break it.
func loadOrCreate(certPath, keyPath string, create func() (*Cert, error), issuer *Cert) (*Cert, error) {
	certOK, keyOK := exists(certPath), exists(keyPath)
	switch {
	case certOK && keyOK:
		certs, err := LoadCertificates(certPath)
		if err != nil {
			return nil, err
		}
		key, err := LoadKey(keyPath)
		if err != nil {
			return nil, err
		}
		return &Cert{Cert: certs[0], Key: key}, nil
	case certOK || keyOK:
		return nil, fmt.Errorf("only one of %s and %s exists; remove it or supply the other", certPath, keyPath)
	}
	c, err := create()
	if err != nil {
		return nil, err
	}
	// Key first: a certificate without its key would be kept forever by the next run.
	if err := WriteKey(keyPath, c.Key); err != nil {
		return nil, err
	}
	if err := WriteCerts(certPath, c.Cert); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	return c, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkID rejects OrganIds that cannot be file names.
func checkID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`+"\x00") {
		return fmt.Errorf("devpki: agency id %q cannot be used as a file name", id)
	}
	return nil
}
