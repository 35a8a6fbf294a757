package tlswire

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"

	"golang.org/x/crypto/cryptobyte"
)

// ErrNotCompletable: Complete does not finish this handshake (a version,
// key exchange or suite it does not implement, or DH parameters it will
// not use). The caller leaves as before Complete existed: CancelRecords.
var ErrNotCompletable = errors.New("handshake not completable")

// Pending is a TLS 1.2 handshake read up to ServerHelloDone by
// ReadFlightPending, which Complete may finish on the same connection.
type Pending struct {
	hello        *Hello
	flight       Flight
	transcript   []byte // the server's messages, ServerHello to ServerHelloDone
	serverRandom []byte
	public       []byte // the server's public value: DHE Ys, or the ECDHE point
	ems, etm     bool   // the ServerHello accepted extended_master_secret, encrypt_then_mac
	// certRequested: the server sent CertificateRequest; the client answers
	// with an empty Certificate (RFC 5246 7.4.6), as a client without one does.
	certRequested bool
}

// Handshake message types Complete writes or reads (RFC 5246 7.4).
const (
	typeNewSessionTicket  = 4
	typeClientKeyExchange = 16
	typeFinished          = 20
)

// minCompleteDHBits: a prime this short (or shorter) is not worth a key
// exchange; the caller leaves politely instead.
const minCompleteDHBits = 512

// dhExponentBytes is the size of the client's private DH exponent: 256
// bits, twice the security a session with nothing secret in it needs.
const dhExponentBytes = 32

// Completable returns nil when Complete can finish the handshake: TLS 1.2,
// a suite in the completable table, and a key exchange that makes sense:
// finite-field DHE with an odd prime of at least 512 bits, 1 < g < p-1 and
// 1 < Ys < p-1, or ECDHE on X25519, P-256, P-384 or P-521 with a valid
// point. Otherwise an error wrapping ErrNotCompletable.
func (p *Pending) Completable() error {
	f := p.flight
	if f.Version != tls.VersionTLS12 {
		return fmt.Errorf("%s: %w", VersionName(f.Version), ErrNotCompletable)
	}
	if _, ok := completable[f.CipherSuite]; !ok {
		return fmt.Errorf("%s: %w", CipherSuiteName(f.CipherSuite), ErrNotCompletable)
	}
	switch f.KeyExchange {
	case kxDHE:
		_, _, _, err := p.dhParams()
		return err
	case kxECDHE:
		_, err := p.ecPublic()
		return err
	}
	return fmt.Errorf("key exchange %s: %w", f.KeyExchange, ErrNotCompletable)
}

// ecPublic is the server's ECDHE public key, checked.
func (p *Pending) ecPublic() (*ecdh.PublicKey, error) {
	curve := curveOf(p.flight.Curve)
	if curve == nil {
		return nil, fmt.Errorf("curve 0x%04x: %w", p.flight.Curve, ErrNotCompletable)
	}
	k, err := curve.NewPublicKey(p.public)
	if err != nil {
		return nil, fmt.Errorf("server's EC point: %w: %w", err, ErrNotCompletable)
	}
	return k, nil
}

// keyAgreement draws the client's key share and returns the
// ClientKeyExchange body (RFC 5246 7.4.7.2, RFC 8422 5.7) and the premaster
// secret (RFC 5246 8.1.2: DH's Z without leading zero bytes; RFC 8422 5.10:
// the x-coordinate, or X25519's output).
func (p *Pending) keyAgreement(rnd io.Reader) (cke, pms []byte, err error) {
	var b cryptobyte.Builder
	b.AddUint8(typeClientKeyExchange)
	if p.flight.KeyExchange == kxECDHE {
		peer, err := p.ecPublic()
		if err != nil {
			return nil, nil, err
		}
		priv, err := peer.Curve().GenerateKey(rnd)
		if err != nil {
			return nil, nil, fmt.Errorf("EC key: %w: %w", err, ErrNotCompletable)
		}
		if pms, err = priv.ECDH(peer); err != nil {
			return nil, nil, fmt.Errorf("ECDH: %w: %w", err, ErrNotCompletable)
		}
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(priv.PublicKey().Bytes()) })
		})
	} else {
		prime, g, ys, err := p.dhParams()
		if err != nil {
			return nil, nil, err
		}
		xb := make([]byte, dhExponentBytes)
		if _, err := io.ReadFull(rnd, xb); err != nil {
			return nil, nil, fmt.Errorf("draw DH exponent: %w: %w", err, ErrNotCompletable)
		}
		x := new(big.Int).SetBytes(xb)
		x.SetBit(x, dhExponentBytes*8-1, 1)
		yc := new(big.Int).Exp(g, x, prime)
		z := new(big.Int).Exp(ys, x, prime)
		if z.Cmp(big.NewInt(1)) <= 0 || z.Cmp(new(big.Int).Sub(prime, big.NewInt(1))) >= 0 {
			return nil, nil, fmt.Errorf("DH shared value degenerate: %w", ErrNotCompletable)
		}
		pms = z.Bytes() // leading zero bytes stripped (RFC 5246 8.1.2)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(yc.FillBytes(make([]byte, (prime.BitLen()+7)/8))) })
		})
	}
	if cke, err = b.Bytes(); err != nil {
		return nil, nil, fmt.Errorf("build client key exchange: %w: %w", err, ErrNotCompletable)
	}
	return cke, pms, nil
}

// dhParams returns p, g and Ys, checked (Completable).
func (p *Pending) dhParams() (prime, g, ys *big.Int, err error) {
	prime = new(big.Int).SetBytes(p.flight.DHPrime)
	g = new(big.Int).SetBytes(p.flight.DHGenerator)
	ys = new(big.Int).SetBytes(p.public)
	pm1 := new(big.Int).Sub(prime, big.NewInt(1))
	one := big.NewInt(1)
	switch {
	case prime.BitLen() < minCompleteDHBits:
		return nil, nil, nil, fmt.Errorf("DH prime of %d bits: %w", prime.BitLen(), ErrNotCompletable)
	case prime.Bit(0) == 0:
		return nil, nil, nil, fmt.Errorf("even DH prime: %w", ErrNotCompletable)
	case g.Cmp(one) <= 0 || g.Cmp(pm1) >= 0:
		return nil, nil, nil, fmt.Errorf("DH generator out of range: %w", ErrNotCompletable)
	case ys.Cmp(one) <= 0 || ys.Cmp(pm1) >= 0:
		return nil, nil, nil, fmt.Errorf("DH public value out of range: %w", ErrNotCompletable)
	}
	return prime, g, ys, nil
}

// Complete finishes the TLS 1.2 handshake p read on conn (RFC 5246 7.3):
// an empty Certificate if the server asked for one (7.4.6), ClientKeyExchange (g^x mod p for DHE, 7.4.7.2; the client's point for
// ECDHE, RFC 8422 5.7), ChangeCipherSpec and
// Finished (7.4.9), then checks the server's ChangeCipherSpec and
// Finished. The certificate is not checked: the key size is the question,
// not trust. Nor is the ServerKeyExchange signature (RSA, ECDSA, or DSA for
// DHE-DSS at a DSA-only server): the key exchange needs only the server's
// parameters, the session carries nothing secret, and the signature's hash
// is read as a fact (Flight.SigHash) before this runs; so a DHE-DSS session
// completes like a DHE-RSA one, with no DSA code here.
// rnd (nil: crypto/rand) draws the exponent and CBC IVs.
//
// On success the returned Conn carries application data over the session
// and its Close sends close_notify. An error wrapping ErrNotCompletable
// means nothing was sent (the caller may still leave with CancelRecords);
// any other error came after the first record was sent, so the caller
// must only close conn: the server may already expect protected records.
func Complete(conn net.Conn, p *Pending, rnd io.Reader) (*Conn, error) {
	if err := p.Completable(); err != nil {
		return nil, err
	}
	rnd = randOr(rnd)
	b := completable[p.flight.CipherSuite]
	h := p.hello
	cke, pms, err := p.keyAgreement(rnd)
	if err != nil {
		return nil, err
	}

	var clientCert []byte // empty Certificate, when asked for one
	if p.certRequested {
		clientCert = []byte{typeCertificate, 0, 0, 3, 0, 0, 0}
	}
	transcript := make([]byte, 0, len(h.msg)+len(p.transcript)+len(clientCert)+len(cke)+64)
	transcript = append(append(append(append(transcript, h.msg...), p.transcript...), clientCert...), cke...)
	ems := p.ems && h.offered[extExtendedMasterSec]
	ms := masterSecret(b.prfHash, pms, h.random, p.serverRandom, transcript, ems)
	cMAC, sMAC, cKey, sKey, cIV, sIV := keyBlock(b.prfHash, ms, h.random, p.serverRandom, b.macLen(), b.keyLen, b.ivLen())
	etm := p.etm && h.offered[extEncryptThenMAC] && b.aead == ""
	out, err := newRecordCipher(b, cKey, cIV, cMAC, etm, rnd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrNotCompletable)
	}
	in, err := newRecordCipher(b, sKey, sIV, sMAC, etm, rnd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrNotCompletable)
	}

	fin := append([]byte{typeFinished, 0, 0, verifyDataLen}, verifyData(b.prfHash, ms, "client finished", transcript)...)
	transcript = append(transcript, fin...)
	sealedFin, err := out.seal(recordHandshake, fin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrNotCompletable)
	}
	clear := append(clientCert, cke...) // one record: both are short
	flight := make([]byte, 0, 2*recordHeaderLen+len(clear)+1+len(sealedFin))
	flight = append(flight, recordHandshake, 3, 3, byte(len(clear)>>8), byte(len(clear)))
	flight = append(flight, clear...)
	flight = append(flight, recordChangeCipherSpec, 3, 3, 0, 1, 1)
	flight = append(flight, sealedFin...)
	if _, err := conn.Write(flight); err != nil {
		return nil, fmt.Errorf("send client finished: %w", err)
	}

	c := &Conn{Conn: conn, rr: recordReader{r: conn}, in: in, out: out}
	if err := c.serverFinished(b, ms, transcript); err != nil {
		return nil, err
	}
	return c, nil
}

// serverFinished reads the server's last flight: an optional
// NewSessionTicket (RFC 5077 3.3), ChangeCipherSpec, and its Finished,
// which must carry the verify_data of the whole handshake.
func (c *Conn) serverFinished(b bulk, ms, transcript []byte) error {
	var hs []byte // handshake bytes before ChangeCipherSpec
	var warning *AlertError
	for ccs := false; !ccs; {
		typ, payload, err := c.rr.next()
		if err != nil {
			if warning != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return warning
			}
			return fmt.Errorf("read server finished: %w", err)
		}
		switch typ {
		case recordHandshake:
			if len(hs)+len(payload) > maxHandshakeLen+handshakeHeaderLen {
				return fmt.Errorf("handshake before change cipher spec: %w", ErrTooLarge)
			}
			hs = append(hs, payload...)
			for len(hs) >= handshakeHeaderLen {
				n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
				if n > maxHandshakeLen {
					return fmt.Errorf("handshake message of %d bytes: %w", n, ErrTooLarge)
				}
				if len(hs) < handshakeHeaderLen+n {
					break
				}
				if hs[0] != typeNewSessionTicket {
					return fmt.Errorf("handshake message type %d (%s) before change cipher spec: %w", hs[0], messageName(hs[0]), ErrUnexpectedMessage)
				}
				transcript = append(transcript, hs[:handshakeHeaderLen+n]...)
				hs = hs[handshakeHeaderLen+n:]
			}
		case recordAlert:
			a, err := alertOf(payload)
			if err != nil {
				return err
			}
			if a.Level == alertLevelWarning && a.Description != alertCloseNotify {
				warning = a
				continue
			}
			return a
		case recordChangeCipherSpec:
			if len(payload) != 1 || payload[0] != 1 || len(hs) != 0 {
				return fmt.Errorf("change cipher spec: %w", ErrMalformed)
			}
			ccs = true
		default:
			return fmt.Errorf("record type %d before change cipher spec: %w", typ, ErrUnexpectedMessage)
		}
	}
	typ, payload, err := c.rr.next()
	if err != nil {
		return fmt.Errorf("read server finished: %w", err)
	}
	pt, err := c.in.open(typ, payload)
	if err != nil {
		return fmt.Errorf("server finished: %w", err)
	}
	switch {
	case typ == recordAlert:
		a, err := alertOf(pt)
		if err != nil {
			return err
		}
		return a
	case typ != recordHandshake:
		return fmt.Errorf("record type %d for server finished: %w", typ, ErrUnexpectedMessage)
	case len(pt) != handshakeHeaderLen+verifyDataLen || pt[0] != typeFinished || pt[1] != 0 || pt[2] != 0 || pt[3] != verifyDataLen:
		return fmt.Errorf("server finished: %w", ErrMalformed)
	}
	if !hmac.Equal(pt[handshakeHeaderLen:], verifyData(b.prfHash, ms, "server finished", transcript)) {
		c.sendAlert(alertLevelFatal, alertDecryptError)
		return ErrBadFinished
	}
	return nil
}

// ErrBadFinished: the server's Finished does not match the handshake.
var ErrBadFinished = errors.New("server finished does not verify")

const alertDecryptError = 51

// alertOf parses an alert's two bytes.
func alertOf(b []byte) (*AlertError, error) {
	if len(b) != 2 {
		return nil, fmt.Errorf("alert record of %d bytes: %w", len(b), ErrMalformed)
	}
	return &AlertError{Level: b[0], Description: b[1]}, nil
}
