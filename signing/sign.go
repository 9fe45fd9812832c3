package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/envelope"
)

// Signer signs documents with a key and its certificate chain.
type Signer struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // intermediates sent in KeyInfo after Cert (not the root)
}

// algorithm picks the SignatureMethod from the key: RSA-SHA256, or ECDSA with the hash
// matching the curve (P-256: SHA-256).
func (s *Signer) algorithm() (string, crypto.Hash, error) {
	if s.Key == nil || s.Cert == nil {
		return "", 0, errors.New("signing: Signer needs Key and Cert")
	}
	pub := s.Key.Public()
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(s.Cert.PublicKey) {
		return "", 0, errors.New("signing: key does not match certificate")
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return AlgRSASHA256, crypto.SHA256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgECDSASHA256, crypto.SHA256, nil
		case elliptic.P384():
			return AlgECDSASHA384, crypto.SHA384, nil
		case elliptic.P521():
			return AlgECDSASHA512, crypto.SHA512, nil
		}
	}
	return "", 0, fmt.Errorf("signing: unsupported key type %T", pub)
}

// Sign adds an enveloped XML-DSig signature over the whole document: Reference URI="",
// transforms enveloped-signature + exclusive C14N, exclusive C14N of SignedInfo, SHA-256
// digest, and KeyInfo/X509Data with Cert then Chain. The ds:Signature becomes the last
// child of edXMLEnvelope/edXMLHeader when the root has one, else of the root. A document
// that already holds a Signature is refused (signature_invalid).
//
// To serialise doc afterwards, set doc.WriteSettings.CanonicalText and CanonicalAttrVal:
// with etree's defaults a CR in text, or a TAB/LF/CR in an attribute value, is written
// literally and normalised away by the next parser, which breaks the signature.
func (s *Signer) Sign(doc *etree.Document) error {
	p, err := s.params()
	if err != nil {
		return err
	}
	return s.sign(doc, p)
}

// defaultTransforms is the Reference's transform chain of every signature Sign makes.
var defaultTransforms = []string{AlgEnveloped, AlgExcC14N}

// params are the algorithms of the signatures Sign (and AppendEnvelopedSignature) make.
func (s *Signer) params() (signParams, error) {
	alg, sigHash, err := s.algorithm()
	if err != nil {
		return signParams{}, err
	}
	return signParams{
		sigMethod: alg, sigHash: sigHash,
		digestMethod: AlgSHA256, digestHash: crypto.SHA256,
		siC14N:     AlgExcC14N,
		transforms: defaultTransforms,
		keyInfo:    true,
	}, nil
}

// signParams lets tests produce the signatures other tools make (SHA-1, inclusive
// C14N, DER ECDSA values, no KeyInfo) through the same code path.
type signParams struct {
	sigMethod    string
	sigHash      crypto.Hash
	digestMethod string
	digestHash   crypto.Hash
	siC14N       string
	transforms   []string
	keyInfo      bool
	ecdsaDER     bool
}

func (s *Signer) sign(doc *etree.Document, p signParams) error {
	if doc == nil || doc.Root() == nil {
		return errs.E(errs.MalformedXML, "no root element")
	}
	for _, t := range doc.Child {
		if _, ok := t.(*etree.Directive); ok {
			return errs.E(errs.MalformedXML, "DOCTYPE is not allowed")
		}
	}
	root := doc.Root()
	var sigs []*etree.Element
	if err := findSignatures(root, &sigs); err != nil {
		return err
	}
	if len(sigs) > 0 {
		return errs.E(errs.SignatureInvalid, "the document is already signed")
	}

	refMethod := c14nMethod{}
	for _, t := range p.transforms {
		if m, ok := methodFor(t); ok {
			refMethod = m
		}
	}
	dh := p.digestHash.New()
	if err := canonicalizeDocument(dh, doc, nil, refMethod); err != nil {
		return c14nError(err)
	}

	sig := etree.NewElement("Signature")
	sig.CreateAttr("xmlns", NSDSig)
	si := sig.CreateElement("SignedInfo")
	si.CreateElement("CanonicalizationMethod").CreateAttr("Algorithm", p.siC14N)
	si.CreateElement("SignatureMethod").CreateAttr("Algorithm", p.sigMethod)
	ref := si.CreateElement("Reference")
	ref.CreateAttr("URI", "")
	trs := ref.CreateElement("Transforms")
	for _, t := range p.transforms {
		trs.CreateElement("Transform").CreateAttr("Algorithm", t)
	}
	ref.CreateElement("DigestMethod").CreateAttr("Algorithm", p.digestMethod)
	ref.CreateElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(dh.Sum(nil)))
	sv := sig.CreateElement("SignatureValue")
	if p.keyInfo {
		xd := sig.CreateElement("KeyInfo").CreateElement("X509Data")
		for _, c := range append([]*x509.Certificate{s.Cert}, s.Chain...) {
			xd.CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
		}
	}

	parent := root
	if env := childEdXML(root, "edXMLEnvelope"); env != nil {
		if hdr := childEdXML(env, "edXMLHeader"); hdr != nil {
			parent = hdr
		}
	}
	parent.AddChild(sig)
	fail := func(err error) error {
		parent.RemoveChildAt(sig.Index())
		return err
	}

	// SignedInfo is canonicalized where it sits, so inherited namespaces count as a
	// verifier will count them.
	siMethod, ok := methodFor(p.siC14N)
	if !ok {
		return fail(fmt.Errorf("signing: unknown canonicalization %q", p.siC14N))
	}
	sh := p.sigHash.New()
	if err := canonicalizeSubtree(sh, si, siMethod); err != nil {
		return fail(c14nError(err))
	}
	value, err := s.signatureValue(sh.Sum(nil), p)
	if err != nil {
		return fail(err)
	}
	sv.SetText(base64.StdEncoding.EncodeToString(value))
	return nil
}

// signatureValue signs the hash of the canonical SignedInfo: r||s for ECDSA (unless
// p.ecdsaDER), PKCS #1 v1.5 for RSA.
func (s *Signer) signatureValue(hashed []byte, p signParams) ([]byte, error) {
	value, err := s.Key.Sign(randomFor(s.Key), hashed, p.sigHash)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if pub, ok := s.Key.Public().(*ecdsa.PublicKey); ok && !p.ecdsaDER {
		return derToRS(value, (pub.Curve.Params().BitSize+7)/8)
	}
	return value, nil
}

// randomFor makes software ECDSA keys sign deterministically (RFC 6979): the same
// document signed twice is the same bytes, so a receipt rebuilt after a crash is the
// receipt first handed out. RSA PKCS #1 v1.5 is deterministic anyway; any other signer
// (an HSM) gets a random source.
func randomFor(k crypto.Signer) io.Reader {
	if _, ok := k.(*ecdsa.PrivateKey); ok {
		return nil
	}
	return rand.Reader
}

// SignBytes signs an XML document given as bytes and returns it with the ds:Signature
// inserted; every other byte is kept as it was. Re-serialising with etree instead would
// be lossy (it writes a literal CR in text and literal TAB/LF/CR in attribute values,
// which a parser then normalises away), so the signature would not survive the trip.
// The digest is over the document as a conforming parser reads those bytes: the strict
// parser normalises attribute values (XML 1.0 §3.3.3), which etree's reader does not, so
// a literal line break in an attribute signed through etree failed at every verifier.
func (s *Signer) SignBytes(b []byte) ([]byte, error) {
	doc, err := envelope.ReadDocument(b, envelope.Limits{MaxBytes: max(int64(len(b)), envelope.DefaultMaxBytes)})
	if err != nil {
		return nil, err
	}
	if err := s.Sign(doc); err != nil {
		return nil, err
	}
	var sigs []*etree.Element
	if err := findSignatures(doc.Root(), &sigs); err != nil || len(sigs) != 1 {
		return nil, errors.New("signing: signature not found after signing")
	}
	sig := sigs[0]
	// The element path of the Signature's parent, as element ordinals from the root.
	var path []int
	for el := sig.Parent(); el != doc.Root(); el = el.Parent() {
		n := 0
		for _, c := range el.Parent().ChildElements() {
			if c == el {
				break
			}
			n++
		}
		path = append([]int{n}, path...)
	}
	at, err := endTagOffset(b, path)
	if err != nil {
		return nil, err
	}
	sd := etree.NewDocument()
	sd.SetRoot(sig.Copy())
	sd.WriteSettings.CanonicalText = true
	sd.WriteSettings.CanonicalAttrVal = true
	sb, err := sd.WriteToBytes()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(sb))
	out = append(out, b[:at]...)
	out = append(out, sb...)
	return append(out, b[at:]...), nil
}

// endTagOffset returns the byte offset of the end tag of the element reached from the
// root by path (ordinals among element children).
func endTagOffset(b []byte, path []int) (int, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	// counts[i]: element children seen so far at depth i+1; onPath: depth down to which
	// the open elements follow path.
	var counts []int
	onPath := 0
	depth := 0
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err != nil {
			return 0, errs.Wrap(errs.MalformedXML, err, "not well-formed XML")
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth > 0 {
				idx := counts[depth-1]
				counts[depth-1]++
				if onPath == depth && depth-1 < len(path) && path[depth-1] == idx {
					onPath++
				}
			} else {
				onPath = 1
			}
			depth++
			if len(counts) < depth {
				counts = append(counts, 0)
			}
			counts[depth-1] = 0
		case xml.EndElement:
			if onPath == depth && depth == len(path)+1 {
				return int(off), nil
			}
			if onPath == depth {
				onPath--
			}
			depth--
		}
	}
}

func childEdXML(el *etree.Element, local string) *etree.Element {
	for _, c := range el.ChildElements() {
		if isEdXML(c, local) {
			return c
		}
	}
	return nil
}

func findSignatures(el *etree.Element, sigs *[]*etree.Element) error {
	if el.Tag == "Signature" && el.NamespaceURI() == NSDSig {
		*sigs = append(*sigs, el)
	}
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if err := findSignatures(t, sigs); err != nil {
				return err
			}
		case *etree.Directive:
			return errs.E(errs.MalformedXML, "DOCTYPE is not allowed")
		}
	}
	return nil
}

// derToRS converts an ASN.1 ECDSA signature to the fixed-width r||s of XML-DSig. The
// DER is read by hand: encoding/asn1 into big.Ints cost a few allocations and more time
// than the rest of writing a receipt.
func derToRS(der []byte, n int) ([]byte, error) {
	bad := errors.New("signing: malformed ECDSA signature")
	seq, rest, ok := derTLV(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, bad
	}
	r, seq, ok1 := derTLV(seq, 0x02)
	sv, rest, ok2 := derTLV(seq, 0x02)
	if !ok1 || !ok2 || len(rest) != 0 {
		return nil, bad
	}
	out := make([]byte, 2*n)
	if !putUint(out[:n], r) || !putUint(out[n:], sv) {
		return nil, bad
	}
	return out, nil
}

// derTLV reads one DER element with the given tag (definite length, at most 2 length
// bytes: ECDSA signatures up to P-521 need 1).
func derTLV(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	l := int(b[1])
	b = b[2:]
	if l >= 0x80 {
		k := l & 0x7f
		if k == 0 || k > 2 || len(b) < k {
			return nil, nil, false
		}
		l = 0
		for _, c := range b[:k] {
			l = l<<8 | int(c)
		}
		b = b[k:]
	}
	if l > len(b) {
		return nil, nil, false
	}
	return b[:l], b[l:], true
}

// putUint writes a non-negative DER INTEGER right-aligned into dst, false if it is
// negative, empty or does not fit.
func putUint(dst, v []byte) bool {
	if len(v) == 0 || v[0]&0x80 != 0 {
		return false
	}
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// CheckSender binds the signer to the From agency (SPEC §3): the signer fingerprint must
// be among fingerprints when the registry lists any (hex, case and colons ignored);
// otherwise the subject serialNumber (OID 2.5.4.5) must equal organID.
func CheckSender(v *Verified, organID string, fingerprints []string) error {
	if v == nil || v.Signer == nil {
		return errs.E(errs.SenderMismatch, "no verified signer")
	}
	if len(fingerprints) > 0 {
		for _, fp := range fingerprints {
			if normaliseFingerprint(fp) == v.Fingerprint {
				return nil
			}
		}
		return errs.E(errs.SenderMismatch, "signer certificate %s is not registered for %s", v.Fingerprint, organID)
	}
	var serials []string
	for _, n := range v.Signer.Subject.Names {
		if n.Type.Equal(oidSerialNumber) {
			s, _ := n.Value.(string)
			serials = append(serials, s)
		}
	}
	// Every serialNumber attribute must agree: a certificate naming two agencies binds to neither.
	if organID == "" || len(serials) == 0 {
		return errs.E(errs.SenderMismatch, "signer certificate has no serialNumber for %s", organID)
	}
	for _, s := range serials {
		if s != organID {
			return errs.E(errs.SenderMismatch, "signer certificate belongs to %q, not %q", s, organID)
		}
	}
	return nil
}

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

func normaliseFingerprint(fp string) string {
	b := make([]byte, 0, 64)
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		switch {
		case c == ':' || c == ' ':
			continue
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
