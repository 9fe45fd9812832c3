package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"go.uber.org/zap"

	"axis/axis/errs"
)

// Options configure a Verifier.
type Options struct {
	// AllowSHA1 accepts rsa-sha1, ecdsa-sha1 and sha1 digests (--allow-sha1); such
	// signatures are reported as Legacy.
	AllowSHA1 bool
	// Now is the verification time (tests, offline verification); default time.Now.
	Now func() time.Time
	// Logger gets chain-building events at debug level; default: none.
	Logger *zap.Logger
	// CacheSize bounds the validated-chain cache (default 4096 entries).
	CacheSize int
}

// Verifier checks XML-DSig signatures against a TrustStore (SPEC §3). It is safe for
// concurrent use.
type Verifier struct {
	trust atomic.Pointer[trusted]
	opts  Options
	log   *zap.Logger
}

// trusted is the trust store and the chains validated against it: replaced together,
// so that no chain validated against an older store outlives it.
type trusted struct {
	ts    *TrustStore
	cache *chainCache
}

// NewVerifier returns a verifier bound to ts.
func NewVerifier(ts *TrustStore, opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	v := &Verifier{opts: opts, log: log.Named("signing")}
	v.SetTrust(ts)
	return v
}

// SetTrust makes later verifications use ts (a reloaded trust store: new CRLs, roots
// added or withdrawn) and forgets every chain validated before. A verification already
// running finishes against the store it started with.
func (v *Verifier) SetTrust(ts *TrustStore) {
	v.trust.Store(&trusted{ts: ts, cache: newChainCache(v.opts.CacheSize)})
}

// ReloadTrust reads the trust path again (LoadTrust) and, if it reads, makes later
// verifications use it (SetTrust); on error the trust store in use stays.
func (v *Verifier) ReloadTrust(path string) (*TrustStore, error) {
	ts, err := LoadTrust(path)
	if err != nil {
		return nil, err
	}
	v.SetTrust(ts)
	return ts, nil
}

// At returns a verifier of the same trust store and options whose clock is fixed at t,
// for a document that attests a past moment (an acceptance receipt, an audit
// checkpoint): its chain must have been valid, and not yet revoked, then.
func (v *Verifier) At(t time.Time) *Verifier {
	o := v.opts
	o.Now = func() time.Time { return t }
	o.CacheSize = 16
	return NewVerifier(v.Trust(), o)
}

// Trust returns the trust store in use.
func (v *Verifier) Trust() *TrustStore { return v.trust.Load().ts }

// Verified is the outcome of a successful verification.
type Verified struct {
	// Root is the verified element: the document root, with comments removed and the
	// ds:Signature detached, i.e. exactly the node set that was digested. Callers read
	// fields ONLY from it.
	Root        *etree.Element
	Signer      *x509.Certificate
	Chain       []*x509.Certificate // leaf first, trusted root last; shared with the cache: read only
	Fingerprint string              // lowercase hex SHA-256 of the signer certificate DER
	Algorithm   string              // SignatureMethod URI
	Legacy      bool                // SHA-1 accepted under AllowSHA1
	// SignedInfoHash is what the SignatureValue signs (canonical SignedInfo, hashed with
	// Algorithm's hash). It names the signed statement whatever bytes carry it: comments
	// or whitespace outside the signed content, or another encoding of the signature
	// value (an ECDSA signature also verifies as (r, n-s)), do not change it.
	SignedInfoHash []byte
}

// Verify checks the one enveloped signature of doc against every rule of SPEC §3.
//
// doc is normalised in place, whether or not it is accepted: comments are removed
// and the text around them joined (URI="" never digests comments, so a reader must not
// see them either: a comment injected into signed text cannot change what callers read).
// On success the ds:Signature element is detached, so Root holds exactly what was
// digested: content smuggled into KeyInfo or ds:Object cannot be read by mistake.
// Serialise the original bytes, never doc, when the signed package is needed.
//
// Error codes: malformed_xml (no root, DOCTYPE), signature_missing, signature_invalid
// (shape, placement, reference, digest, signature value, and a missing KeyInfo or
// X509Certificate: the signature does not name its signer, so it cannot be checked),
// algorithm_not_allowed, certificate_untrusted, certificate_expired,
// certificate_revoked.
func (v *Verifier) Verify(doc *etree.Document) (*Verified, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errs.E(errs.MalformedXML, "no root element")
	}
	for _, t := range doc.Child {
		if _, ok := t.(*etree.Directive); ok {
			return nil, errs.E(errs.MalformedXML, "DOCTYPE is not allowed")
		}
	}
	root := doc.Root()
	sc := getScratch()
	defer putScratch(sc)
	if err := normalise(root, &sc.sigs); err != nil {
		return nil, err
	}
	sigs := sc.sigs
	switch len(sigs) {
	case 0:
		return nil, errs.E(errs.SignatureMissing, "no XML-DSig Signature element")
	case 1:
	default:
		return nil, errs.E(errs.SignatureInvalid, "%d Signature elements; exactly one is allowed", len(sigs))
	}
	sigEl := sigs[0]
	if !placedRight(root, sigEl) {
		return nil, errs.E(errs.SignatureInvalid, "Signature must be a direct child of edXMLHeader or of the root element")
	}
	ps := &sc.ps
	if err := parseSignature(sigEl, sc); err != nil {
		return nil, err
	}
	legacy, err := v.checkAlgorithms(ps)
	if err != nil {
		return nil, err
	}

	entry, err := v.chain(ps.certs)
	if err != nil {
		return nil, err
	}
	if entry.kind != ps.alg.kind {
		return nil, errs.E(errs.SignatureInvalid, "SignatureMethod does not match the signer key type")
	}

	// Reference digest over the whole document minus the Signature.
	var sum [sha512.Size]byte
	h := getHash(ps.digest)
	err = canonicalizeDocument(h, doc, sigEl, ps.refMethod)
	digest := h.Sum(sum[:0])
	putHash(ps.digest, h)
	if err != nil {
		return nil, c14nError(err)
	}
	if subtle.ConstantTimeCompare(digest, ps.digestValue) != 1 {
		return nil, errs.E(errs.SignatureInvalid, "digest mismatch: the document is not what was signed")
	}
	// SignedInfo signature.
	h = getHash(ps.alg.hash)
	err = canonicalizeSubtree(h, ps.signedInfo, ps.siMethod)
	hashed := h.Sum(sum[:0])
	putHash(ps.alg.hash, h)
	if err != nil {
		return nil, c14nError(err)
	}
	if err := checkSignatureValue(entry.chain[0].PublicKey, ps.alg, hashed, ps.sigValue); err != nil {
		return nil, errs.Wrap(errs.SignatureInvalid, err, "signature value does not verify")
	}

	sigEl.Parent().RemoveChildAt(sigEl.Index())
	return &Verified{
		Root:           root,
		Signer:         entry.chain[0],
		Chain:          entry.chain,
		Fingerprint:    entry.fingerprint,
		Algorithm:      ps.sigMethod,
		Legacy:         legacy || entry.legacy,
		SignedInfoHash: append([]byte(nil), hashed...),
	}, nil
}

func c14nError(err error) error {
	if errors.Is(err, errDirective) {
		return errs.E(errs.MalformedXML, "DOCTYPE is not allowed")
	}
	return errs.Wrap(errs.SignatureInvalid, err, "cannot canonicalize")
}

// normalise removes comments (joining the text around them), rejects directives and
// collects the XML-DSig Signature elements, in one walk.
func normalise(el *etree.Element, sigs *[]*etree.Element) error {
	if el.Tag == "Signature" && el.NamespaceURI() == NSDSig {
		*sigs = append(*sigs, el)
	}
	dirty := false
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if err := normalise(t, sigs); err != nil {
				return err
			}
		case *etree.Comment:
			dirty = true
		case *etree.Directive:
			return errs.E(errs.MalformedXML, "DOCTYPE is not allowed")
		}
	}
	if !dirty {
		return nil
	}
	// Join each run of text separated only by comments in one go: appending piecewise
	// would be quadratic on text cut by many comments.
	kept := el.Child[:0]
	var run []*etree.CharData
	join := func() {
		if len(run) > 1 {
			var sb strings.Builder
			for _, cd := range run {
				sb.WriteString(cd.Data)
			}
			run[0].SetData(sb.String()) // SetData recomputes the whitespace flag
		}
		run = run[:0]
	}
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Comment:
			continue
		case *etree.CharData:
			run = append(run, t)
			if len(run) > 1 {
				continue
			}
		default:
			join()
		}
		kept = append(kept, t)
	}
	join()
	clear(el.Child[len(kept):])
	el.Child = kept
	el.ReindexChildren()
	return nil
}

// placedRight: the Signature is a direct child of the root, or of
// root/edXMLEnvelope/edXMLHeader.
func placedRight(root, sig *etree.Element) bool {
	p := sig.Parent()
	if p == root {
		return true
	}
	if p == nil || !isEdXML(p, "edXMLHeader") {
		return false
	}
	env := p.Parent()
	return env != nil && isEdXML(env, "edXMLEnvelope") && env.Parent() == root
}

func isEdXML(el *etree.Element, local string) bool {
	return el.Tag == local && el.NamespaceURI() == NSEdXML
}

type parsedSig struct {
	signedInfo  *etree.Element
	siC14N      string
	siMethod    c14nMethod
	sigMethod   string
	alg         sigAlg
	refMethod   c14nMethod
	transforms  []string
	digestAlg   string
	digest      crypto.Hash
	digestValue []byte
	sigValue    []byte
	certs       [][]byte
}

func invalid(format string, args ...any) error {
	return errs.E(errs.SignatureInvalid, format, args...)
}

// isDS: el is the XML-DSig element local.
func isDS(el *etree.Element, local string) bool {
	return el.Tag == local && el.NamespaceURI() == NSDSig
}

// attr returns the value of an unprefixed attribute (etree's SelectAttr would also match
// "foo:URI").
func attr(el *etree.Element, key string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func noChildren(el *etree.Element) error {
	for _, t := range el.Child {
		if _, ok := t.(*etree.Element); ok {
			return invalid("unexpected child element in %s", el.Tag)
		}
	}
	return nil
}

// parseSignature checks the shape of the Signature (XML-DSig core schema, with the
// restrictions of SPEC §3) and extracts what verification needs. Algorithms are
// collected here and judged by checkAlgorithms.
func parseSignature(sig *etree.Element, sc *verifyScratch) error {
	ps := &sc.ps
	var buf [8]*etree.Element
	kids := childElements(buf[:0], sig)
	if len(kids) < 2 || !isDS(kids[0], "SignedInfo") || !isDS(kids[1], "SignatureValue") {
		return invalid("Signature must start with SignedInfo and SignatureValue")
	}
	ps.signedInfo = kids[0]
	rest := kids[2:]
	if len(rest) > 0 && isDS(rest[0], "KeyInfo") {
		if err := keyInfoCerts(rest[0], sc); err != nil {
			return err
		}
		rest = rest[1:]
	}
	for _, o := range rest {
		// ds:Object is never digested here (URI="" only) and is detached with the Signature.
		if !isDS(o, "Object") {
			return invalid("unexpected element %s in Signature", o.Tag)
		}
	}
	if len(ps.certs) == 0 {
		return invalid("KeyInfo with an X509Certificate is required")
	}
	if err := noChildren(kids[1]); err != nil {
		return err
	}
	sv, err := sc.decodeBase64(kids[1].Text())
	if err != nil || len(sv) == 0 {
		return invalid("SignatureValue is not base64")
	}
	ps.sigValue = sv

	var sibuf, rkbuf [4]*etree.Element
	si := childElements(sibuf[:0], ps.signedInfo)
	if len(si) != 3 || !isDS(si[0], "CanonicalizationMethod") || !isDS(si[1], "SignatureMethod") || !isDS(si[2], "Reference") {
		return invalid("SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference")
	}
	var ok bool
	if ps.siC14N, ok = attr(si[0], "Algorithm"); !ok {
		return invalid("CanonicalizationMethod without Algorithm")
	}
	prefixes, err := inclusivePrefixes(si[0])
	if err != nil {
		return err
	}
	ps.siMethod.inclusive = prefixes
	if ps.sigMethod, ok = attr(si[1], "Algorithm"); !ok {
		return invalid("SignatureMethod without Algorithm")
	}
	if err := noChildren(si[1]); err != nil {
		return err
	}

	ref := si[2]
	if uri, ok := attr(ref, "URI"); !ok || uri != "" {
		return invalid(`Reference must have URI="" (the whole document)`)
	}
	rk := childElements(rkbuf[:0], ref)
	if len(rk) != 3 || !isDS(rk[0], "Transforms") || !isDS(rk[1], "DigestMethod") || !isDS(rk[2], "DigestValue") {
		return invalid("Reference must hold Transforms, DigestMethod and DigestValue")
	}
	var trbuf [4]*etree.Element
	for _, tr := range childElements(trbuf[:0], rk[0]) {
		if !isDS(tr, "Transform") {
			return invalid("unexpected element %s in Transforms", tr.Tag)
		}
		alg, ok := attr(tr, "Algorithm")
		if !ok {
			return invalid("Transform without Algorithm")
		}
		p, err := inclusivePrefixes(tr)
		if err != nil {
			return err
		}
		if alg == AlgExcC14N || alg == AlgExcC14NComments {
			ps.refMethod.inclusive = p
		}
		ps.transforms = append(ps.transforms, alg)
	}
	if ps.digestAlg, ok = attr(rk[1], "Algorithm"); !ok {
		return invalid("DigestMethod without Algorithm")
	}
	if err := noChildren(rk[1]); err != nil {
		return err
	}
	if err := noChildren(rk[2]); err != nil {
		return err
	}
	if ps.digestValue, err = sc.decodeBase64(rk[2].Text()); err != nil {
		return invalid("DigestValue is not base64")
	}
	return nil
}

// inclusivePrefixes reads the optional ec:InclusiveNamespaces child of an exclusive
// C14N method; any other child is refused (e.g. an XPath expression).
func inclusivePrefixes(el *etree.Element) ([]string, error) {
	var out []string
	for _, k := range el.ChildElements() {
		if k.Tag != "InclusiveNamespaces" || k.NamespaceURI() != NSExcC14N {
			return nil, invalid("unexpected element %s in %s", k.Tag, el.Tag)
		}
		pl, _ := attr(k, "PrefixList")
		out = append(out, parsePrefixList(pl)...)
	}
	return out, nil
}

// keyInfoCerts decodes the X509Certificates into sc (pooled memory: chain copies what it
// keeps).
func keyInfoCerts(ki *etree.Element, sc *verifyScratch) error {
	for _, xd := range ki.Child {
		xd, ok := xd.(*etree.Element)
		if !ok || !isDS(xd, "X509Data") {
			continue // KeyName, KeyValue...: the certificate alone names the key
		}
		for _, c := range xd.Child {
			c, ok := c.(*etree.Element)
			if !ok || !isDS(c, "X509Certificate") {
				continue
			}
			der, err := sc.decodeBase64(c.Text())
			if err != nil || len(der) == 0 {
				return invalid("X509Certificate is not base64")
			}
			sc.ps.certs = append(sc.ps.certs, der)
		}
	}
	return nil
}

// childElements appends the child elements of el to dst (ChildElements without its
// allocation when dst has room).
func childElements(dst []*etree.Element, el *etree.Element) []*etree.Element {
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			dst = append(dst, c)
		}
	}
	return dst
}

// decodeBase64 decodes s into sc's buffer, which later decodes never overwrite (they
// append past it, or move to a new buffer). Like base64.StdEncoding.DecodeString it
// ignores \r and \n; spaces and tabs, which signing tools also wrap with, are dropped too.
func (sc *verifyScratch) decodeBase64(s string) ([]byte, error) {
	if strings.IndexByte(s, ' ') >= 0 || strings.IndexByte(s, '\t') >= 0 {
		s = strings.NewReplacer(" ", "", "\t", "").Replace(s)
	}
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(sc.b64)-len(sc.b64) < n {
		// A new buffer: the slices already handed out keep the old one.
		sc.b64 = make([]byte, 0, max(n, 2*cap(sc.b64), 4096))
	}
	dst := sc.b64[len(sc.b64) : len(sc.b64)+n : len(sc.b64)+n]
	m, err := base64.StdEncoding.Decode(dst, []byte(s))
	if err != nil {
		return nil, err
	}
	sc.b64 = sc.b64[:len(sc.b64)+m]
	return dst[:m:m], nil
}

// verifyScratch is the working memory of one Verify: the parsed Signature and the bytes
// it decodes (signature value, digest, certificates). Pooled; nothing in it outlives
// the Verify call (chain copies the certificates it keeps).
type verifyScratch struct {
	ps   parsedSig
	b64  []byte
	sigs []*etree.Element
}

var scratchPool = sync.Pool{New: func() any { return new(verifyScratch) }}

// maxPooledB64 keeps a Signature carrying huge certificates from pinning the memory.
const (
	maxPooledB64   = 64 << 10
	maxPooledSlice = 64
)

func getScratch() *verifyScratch { return scratchPool.Get().(*verifyScratch) }

func putScratch(sc *verifyScratch) {
	certs := sc.ps.certs[:0]
	clear(sc.ps.certs[:cap(sc.ps.certs)])
	transforms := sc.ps.transforms[:0]
	clear(sc.ps.transforms[:cap(sc.ps.transforms)])
	sc.ps = parsedSig{certs: certs, transforms: transforms}
	clear(sc.sigs[:cap(sc.sigs)])
	sc.sigs = sc.sigs[:0]
	// A document with thousands of Signatures, certificates or transforms is refused,
	// but must not leave its slices in the pool.
	if cap(sc.sigs) > maxPooledSlice {
		sc.sigs = nil
	}
	if cap(sc.ps.certs) > maxPooledSlice {
		sc.ps.certs = nil
	}
	if cap(sc.ps.transforms) > maxPooledSlice {
		sc.ps.transforms = nil
	}
	if cap(sc.b64) > maxPooledB64 {
		return
	}
	sc.b64 = sc.b64[:0]
	scratchPool.Put(sc)
}

// Hashes are pooled per algorithm: Verify needs two per document.
var hashPools [crypto.BLAKE2b_512 + 1]sync.Pool

func getHash(h crypto.Hash) hash.Hash {
	if int(h) < len(hashPools) {
		if x, ok := hashPools[h].Get().(hash.Hash); ok {
			x.Reset()
			return x
		}
	}
	return h.New()
}

func putHash(h crypto.Hash, x hash.Hash) {
	if int(h) < len(hashPools) {
		hashPools[h].Put(x)
	}
}

// checkAlgorithms applies the allow-list and the transform rules.
func (v *Verifier) checkAlgorithms(ps *parsedSig) (legacy bool, err error) {
	notAllowed := func(what, alg string) error {
		return errs.E(errs.AlgorithmNotAllowed, "%s %q is not allowed", what, alg)
	}
	var ok bool
	m, ok := methodFor(ps.siC14N)
	if !ok {
		return false, notAllowed("CanonicalizationMethod", ps.siC14N)
	}
	if !m.exclusive && len(ps.siMethod.inclusive) > 0 {
		return false, invalid("InclusiveNamespaces only applies to exclusive C14N")
	}
	m.inclusive = ps.siMethod.inclusive
	ps.siMethod = m

	if ps.alg, ok = signatureAlgs[ps.sigMethod]; !ok {
		return false, notAllowed("SignatureMethod", ps.sigMethod)
	}
	if ps.digest, ok = digestAlgs[ps.digestAlg]; !ok {
		return false, notAllowed("DigestMethod", ps.digestAlg)
	}
	if ps.alg.hash == crypto.SHA1 || ps.digest == crypto.SHA1 {
		if !v.opts.AllowSHA1 {
			return false, errs.E(errs.AlgorithmNotAllowed, "SHA-1 is not allowed (--allow-sha1)")
		}
		legacy = true
	}
	if len(ps.digestValue) != ps.digest.Size() {
		return false, invalid("DigestValue has the wrong length")
	}

	enveloped, c14n := 0, 0
	ps.refMethod = c14nMethod{inclusive: ps.refMethod.inclusive}
	explicit := false
	for _, alg := range ps.transforms {
		if alg == AlgEnveloped {
			enveloped++
			continue
		}
		rm, ok := methodFor(alg)
		if !ok {
			return false, notAllowed("Transform", alg)
		}
		c14n++
		rm.inclusive = ps.refMethod.inclusive
		ps.refMethod, explicit = rm, true
	}
	if enveloped != 1 || c14n > 1 {
		return false, invalid("Transforms must be enveloped-signature plus at most one canonicalization")
	}
	if !explicit {
		ps.refMethod = c14nMethod{} // node-set to octets: C14N 1.0 (XML-DSig §4.4.3.2)
	}
	if !ps.refMethod.exclusive && len(ps.refMethod.inclusive) > 0 {
		return false, invalid("InclusiveNamespaces only applies to exclusive C14N")
	}
	return legacy, nil
}

// checkSignatureValue verifies the SignedInfo hash. ECDSA values are r||s as the
// XML-DSig spec (and xmlsec1) write them; DER (what goxmldsig writes) is accepted too.
func checkSignatureValue(pub any, alg sigAlg, hashed, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, alg.hash, hashed, sig)
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*n {
			r := new(big.Int).SetBytes(sig[:n])
			s := new(big.Int).SetBytes(sig[n:])
			if ecdsa.Verify(k, hashed, r, s) {
				return nil
			}
		}
		if ecdsa.VerifyASN1(k, hashed, sig) {
			return nil
		}
		return errors.New("ECDSA signature does not verify")
	}
	return errors.New("unsupported public key")
}

// chain returns the validated chain of the signer, from the cache or by building it.
func (v *Verifier) chain(certs [][]byte) (*chainEntry, error) {
	tr := v.trust.Load()
	key := certsKey(certs)
	now := v.opts.Now()
	if e := tr.cache.get(key, now); e != nil {
		return e, nil
	}
	// certs is pooled scratch; the parsed certificates keep their DER (Raw), so they get
	// their own copy.
	owned := make([][]byte, len(certs))
	for i, c := range certs {
		owned[i] = bytes.Clone(c)
	}
	e, err := v.buildChain(tr.ts, owned, now)
	if err != nil {
		v.log.Debug("signer certificate rejected", zap.Error(err))
		return nil, err
	}
	tr.cache.put(key, e)
	v.log.Debug("signer chain validated", zap.String("fingerprint", e.fingerprint),
		zap.String("subject", e.chain[0].Subject.String()))
	return e, nil
}

func certsKey(certs [][]byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	for _, c := range certs {
		n[0], n[1], n[2], n[3] = byte(len(c)>>24), byte(len(c)>>16), byte(len(c)>>8), byte(len(c))
		h.Write(n[:])
		h.Write(c)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (v *Verifier) buildChain(ts *TrustStore, ders [][]byte, now time.Time) (*chainEntry, error) {
	certs := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, errs.Wrap(errs.SignatureInvalid, err, "X509Certificate does not parse")
		}
		certs = append(certs, c)
	}
	leaf := pickLeaf(certs)
	untrusted := func(format string, args ...any) error {
		return errs.E(errs.CertificateUntrusted, format, args...)
	}
	if isSelfSigned(leaf) {
		return nil, untrusted("self-signed signer certificate %q", leaf.Subject)
	}
	inters := ts.interPool.Clone()
	for _, c := range certs {
		if c != leaf {
			inters.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ts.rootPool,
		Intermediates: inters,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	legacy := false
	if err != nil && v.opts.AllowSHA1 {
		others := slices.DeleteFunc(slices.Clone(certs), func(c *x509.Certificate) bool { return c == leaf })
		ch, lerr := legacyChain(ts, leaf, others, now)
		switch {
		case lerr == nil:
			chains, err, legacy = [][]*x509.Certificate{ch}, nil, true
		case errs.Is(lerr, errs.CertificateExpired):
			return nil, lerr
		}
	}
	if err != nil {
		// crypto/x509 reports an expired intermediate as "unknown authority"; tell the
		// two apart by finding the chain while ignoring time.
		if ch := chainIgnoringTime(ts, leaf, certs); ch != nil {
			for _, c := range ch {
				if now.Before(c.NotBefore) || now.After(c.NotAfter) {
					return nil, errs.E(errs.CertificateExpired, "certificate %q is valid from %s to %s",
						c.Subject, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
				}
			}
		}
		return nil, errs.Wrap(errs.CertificateUntrusted, err, "signer certificate %q does not chain to a trusted root", leaf.Subject)
	}
	chain := chains[0]
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, untrusted("signer certificate %q lacks the digitalSignature key usage", leaf.Subject)
	}
	r, until := ts.revokedIn(chain, now)
	if r != nil {
		return nil, errs.E(errs.CertificateRevoked, "certificate %q (serial %s) is revoked", r.Subject, r.SerialNumber.Text(16))
	}
	var kind keyKind
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		kind = kindRSA
	case *ecdsa.PublicKey:
		kind = kindECDSA
	default:
		return nil, untrusted("unsupported signer key type %v", leaf.PublicKeyAlgorithm)
	}
	fp := sha256.Sum256(leaf.Raw)
	e := &chainEntry{chain: chain, fingerprint: hex.EncodeToString(fp[:]), kind: kind, legacy: legacy}
	e.notBefore, e.notAfter = chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
	}
	if !until.IsZero() && until.Before(e.notAfter) { // cached no longer than a revocation to come
		e.notAfter = until.Add(-time.Nanosecond)
	}
	return e, nil
}

// pickLeaf: the certificate that issued none of the others (KeyInfo order varies
// between signing tools); the first such one.
func pickLeaf(certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		issuer := false
		for _, o := range certs {
			if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && !bytes.Equal(o.RawIssuer, o.RawSubject) {
				issuer = true
				break
			}
		}
		if !issuer {
			return c
		}
	}
	return certs[0]
}

// chainIgnoringTime follows issuers by name and signature up to a trusted root, without
// looking at validity periods; nil when there is none.
func chainIgnoringTime(ts *TrustStore, leaf *x509.Certificate, extra []*x509.Certificate) []*x509.Certificate {
	pool := append(append(append([]*x509.Certificate{}, extra...), ts.inters...), ts.roots...)
	chain := []*x509.Certificate{leaf}
	cur := leaf
	for range 10 {
		for _, r := range ts.roots {
			if r.Equal(cur) {
				return chain
			}
		}
		var next *x509.Certificate
		for _, c := range pool {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			return nil
		}
		chain = append(chain, next)
		cur = next
	}
	return nil
}
