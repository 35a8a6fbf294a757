package tlswire

import "crypto/ecdh"

// curveOf is the crypto/ecdh curve of an elliptic-curve named group (RFC
// 8446 section 4.2.7, RFC 8422 section 5.1.1), nil for any other group.
// The hello's key shares and the completion of an ECDHE handshake use it.
func curveOf(group uint16) ecdh.Curve {
	switch group {
	case groupX25519:
		return ecdh.X25519()
	case groupP256:
		return ecdh.P256()
	case groupP384:
		return ecdh.P384()
	case groupP521:
		return ecdh.P521()
	}
	return nil
}
