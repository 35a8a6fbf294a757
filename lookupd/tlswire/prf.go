package tlswire

import (
	"crypto/hmac"
	"hash"
)

// prf12 is the TLS 1.2 pseudo-random function (RFC 5246 section 5):
// P_hash(secret, label + seed) with the suite's PRF hash, n bytes.
func prf12(newHash func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	labelSeed := make([]byte, 0, len(label)+len(seed))
	labelSeed = append(append(labelSeed, label...), seed...)
	out := make([]byte, 0, n+64)
	mac := hmac.New(newHash, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil) // A(1)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

const (
	masterSecretLen = 48 // RFC 5246 section 8.1
	verifyDataLen   = 12 // RFC 5246 section 7.4.9
)

// masterSecret derives the master secret (RFC 5246 section 8.1), or with
// extended_master_secret negotiated the one bound to the session hash, the
// hash of the handshake up to and including ClientKeyExchange (RFC 7627
// section 4).
func masterSecret(newHash func() hash.Hash, pms, clientRandom, serverRandom, transcript []byte, ems bool) []byte {
	if ems {
		h := newHash()
		h.Write(transcript)
		return prf12(newHash, pms, "extended master secret", h.Sum(nil), masterSecretLen)
	}
	seed := append(append([]byte(nil), clientRandom...), serverRandom...)
	return prf12(newHash, pms, "master secret", seed, masterSecretLen)
}

// verifyData is a Finished message's content (RFC 5246 section 7.4.9):
// label "client finished" or "server finished".
func verifyData(newHash func() hash.Hash, ms []byte, label string, transcript []byte) []byte {
	h := newHash()
	h.Write(transcript)
	return prf12(newHash, ms, label, h.Sum(nil), verifyDataLen)
}

// keyBlock expands the master secret into the connection's keys (RFC 5246
// section 6.3): client MAC key, server MAC key, client key, server key,
// client IV, server IV, in that order.
func keyBlock(newHash func() hash.Hash, ms, clientRandom, serverRandom []byte, macLen, keyLen, ivLen int) (cMAC, sMAC, cKey, sKey, cIV, sIV []byte) {
	seed := append(append([]byte(nil), serverRandom...), clientRandom...)
	kb := prf12(newHash, ms, "key expansion", seed, 2*(macLen+keyLen+ivLen))
	next := func(n int) []byte {
		b := kb[:n:n]
		kb = kb[n:]
		return b
	}
	return next(macLen), next(macLen), next(keyLen), next(keyLen), next(ivLen), next(ivLen)
}
