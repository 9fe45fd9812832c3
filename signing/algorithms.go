package signing

import (
	"crypto"
	_ "crypto/sha1" // registers SHA-1 for legacy signatures (--allow-sha1)
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Namespaces.
const (
	NSDSig    = "http://www.w3.org/2000/09/xmldsig#"
	NSEdXML   = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
	NSExcC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

// Algorithm identifiers (XML-DSig 1.1, RFC 6931).
const (
	AlgC14N10          = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	AlgC14N10Comments  = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
	AlgC14N11          = "http://www.w3.org/2006/12/xml-c14n11"
	AlgC14N11Comments  = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
	AlgExcC14N         = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgExcC14NComments = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	AlgEnveloped       = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

	AlgRSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	AlgRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgECDSASHA1   = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
	AlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	AlgECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	AlgECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

	AlgSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	AlgSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	AlgSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

type keyKind int

const (
	kindRSA keyKind = iota
	kindECDSA
)

type sigAlg struct {
	kind keyKind
	hash crypto.Hash
}

// The allow-list. Anything else is algorithm_not_allowed; SHA-1 entries need AllowSHA1.
var signatureAlgs = map[string]sigAlg{
	AlgRSASHA1:     {kindRSA, crypto.SHA1},
	AlgRSASHA256:   {kindRSA, crypto.SHA256},
	AlgRSASHA384:   {kindRSA, crypto.SHA384},
	AlgRSASHA512:   {kindRSA, crypto.SHA512},
	AlgECDSASHA1:   {kindECDSA, crypto.SHA1},
	AlgECDSASHA256: {kindECDSA, crypto.SHA256},
	AlgECDSASHA384: {kindECDSA, crypto.SHA384},
	AlgECDSASHA512: {kindECDSA, crypto.SHA512},
}

var digestAlgs = map[string]crypto.Hash{
	AlgSHA1:   crypto.SHA1,
	AlgSHA256: crypto.SHA256,
	AlgSHA384: crypto.SHA384,
	AlgSHA512: crypto.SHA512,
}
