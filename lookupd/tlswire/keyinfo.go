package tlswire

import (
	//lint:ignore SA1019 DSA keys are what we must measure
	"crypto/dsa" //nolint:staticcheck // DSA keys are what we must measure
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Key types returned by KeyInfo.
const (
	KeyRSA     = "RSA"
	KeyDSA     = "DSA"
	KeyECDSA   = "ECDSA"
	KeyEd25519 = "Ed25519"
	KeyEd448   = "Ed448"
)

// KeyInfo returns the type and size of the public key of a DER certificate:
// "RSA" (modulus bits), "DSA" (bits of P), "ECDSA" (curve bits), "Ed25519"
// (256) or "Ed448" (448). Certificates crypto/x509 refuses for reasons that do
// not touch the key (a negative serial, odd extensions, bad dates: common on
// the old servers this is for) are measured from their SubjectPublicKeyInfo
// (RFC 5280 4.1), as are EC keys on curves Go lacks (brainpool, secp256k1).
func KeyInfo(der []byte) (keyType string, bits int, err error) {
	var spki []byte
	if cert, perr := x509.ParseCertificate(der); perr == nil {
		spki = cert.RawSubjectPublicKeyInfo
	} else if spki, err = rawSPKI(der); err != nil {
		return "", 0, fmt.Errorf("parse certificate: %w", perr)
	}
	keyType, bits, err = spkiKeyInfo(spki)
	if err != nil {
		return "", 0, fmt.Errorf("parse certificate key: %w", err)
	}
	return keyType, bits, nil
}

// spkiKeyInfo measures a DER SubjectPublicKeyInfo.
func spkiKeyInfo(spki []byte) (string, int, error) {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err == nil {
		switch k := pub.(type) {
		case *rsa.PublicKey:
			return KeyRSA, k.N.BitLen(), nil
		case *dsa.PublicKey:
			return KeyDSA, k.P.BitLen(), nil
		case *ecdsa.PublicKey:
			return KeyECDSA, k.Curve.Params().BitSize, nil
		case ed25519.PublicKey:
			return KeyEd25519, 256, nil
		}
		return "", 0, fmt.Errorf("public key type %T", pub)
	}
	// x509 knows no Ed448 and few curves; read the algorithm ourselves.
	alg, params, ok := spkiAlgorithm(spki)
	if !ok {
		return "", 0, err
	}
	switch {
	case alg.Equal(oidEd448):
		return KeyEd448, 448, nil
	case alg.Equal(oidECPublicKey):
		var curve asn1.ObjectIdentifier
		if rest, cerr := asn1.Unmarshal(params, &curve); cerr == nil && len(rest) == 0 {
			for _, c := range extraCurves {
				if curve.Equal(c.oid) {
					return KeyECDSA, c.bits, nil
				}
			}
			return "", 0, fmt.Errorf("unknown EC curve %v", curve)
		}
	}
	return "", 0, err
}

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEd448       = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// extraCurves are named curves crypto/x509 does not parse.
var extraCurves = []struct {
	oid  asn1.ObjectIdentifier
	bits int
}{
	{asn1.ObjectIdentifier{1, 3, 132, 0, 10}, 256},               // secp256k1
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, 192},      // prime192v1
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, 256},  // brainpoolP256r1
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, 384}, // brainpoolP384r1
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, 512}, // brainpoolP512r1
}

// spkiAlgorithm returns the algorithm OID and raw parameters of an SPKI.
func spkiAlgorithm(spki []byte) (asn1.ObjectIdentifier, []byte, bool) {
	s := cryptobyte.String(spki)
	var inner, algSeq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&inner, cbasn1.SEQUENCE) || !inner.ReadASN1(&algSeq, cbasn1.SEQUENCE) ||
		!algSeq.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, false
	}
	return oid, algSeq, true
}

// rawSPKI digs the SubjectPublicKeyInfo out of a certificate without
// checking anything else (RFC 5280 4.1: tbsCertificate fields in order).
func rawSPKI(der []byte) ([]byte, error) {
	s := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !s.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("not a certificate")
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.SkipASN1(cbasn1.INTEGER) || // serialNumber (any sign)
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // signature
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // issuer
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // validity
		!tbs.SkipASN1(cbasn1.SEQUENCE) { // subject
		return nil, errors.New("malformed tbsCertificate")
	}
	var spki cryptobyte.String
	if !tbs.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed subjectPublicKeyInfo")
	}
	return spki, nil
}
