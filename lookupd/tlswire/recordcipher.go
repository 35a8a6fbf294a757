package tlswire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// bulk is how a TLS 1.2 suite protects records, as far as Complete
// implements it: AES-GCM (RFC 5288), ChaCha20-Poly1305 (RFC 7905), or
// AES-CBC with HMAC (RFC 5246 6.2.3.2, with encrypt_then_mac RFC 7366).
type bulk struct {
	aead    string // "gcm", "chacha", or "" for CBC
	keyLen  int
	macHash func() hash.Hash // CBC only: the record MAC's hash
	prfHash func() hash.Hash // the PRF's hash (RFC 5246 5; SHA-384 suites say so)
}

func (b bulk) macLen() int {
	if b.macHash == nil {
		return 0
	}
	return b.macHash().Size()
}

func (b bulk) ivLen() int {
	switch b.aead {
	case "gcm":
		return 4 // the implicit salt (RFC 5288 3)
	case "chacha":
		return 12 // RFC 7905 2
	}
	return aes.BlockSize // derived, unused: TLS 1.2 CBC records carry their IV
}

// completable lists the TLS 1.2 suites Complete can finish: the DHE and
// ECDHE suites of the modelled clients and of the every-suite hello, with
// AEAD or AES-CBC protection. CCM and Camellia suites are not here: Complete
// leaves them as ReadFlight's callers always did.
var completable = map[uint16]bulk{
	0x009e: {aead: "gcm", keyLen: 16, prfHash: sha256.New},    // DHE_RSA_WITH_AES_128_GCM_SHA256
	0x009f: {aead: "gcm", keyLen: 32, prfHash: sha512.New384}, // DHE_RSA_WITH_AES_256_GCM_SHA384
	0x00a2: {aead: "gcm", keyLen: 16, prfHash: sha256.New},    // DHE_DSS_WITH_AES_128_GCM_SHA256
	0x00a3: {aead: "gcm", keyLen: 32, prfHash: sha512.New384}, // DHE_DSS_WITH_AES_256_GCM_SHA384
	0xccaa: {aead: "chacha", keyLen: 32, prfHash: sha256.New}, // DHE_RSA_WITH_CHACHA20_POLY1305_SHA256

	// ECDHE (RFC 8422, 5289, 7905)
	0xc02b: {aead: "gcm", keyLen: 16, prfHash: sha256.New},               // ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	0xc02c: {aead: "gcm", keyLen: 32, prfHash: sha512.New384},            // ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	0xc02f: {aead: "gcm", keyLen: 16, prfHash: sha256.New},               // ECDHE_RSA_WITH_AES_128_GCM_SHA256
	0xc030: {aead: "gcm", keyLen: 32, prfHash: sha512.New384},            // ECDHE_RSA_WITH_AES_256_GCM_SHA384
	0xcca9: {aead: "chacha", keyLen: 32, prfHash: sha256.New},            // ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	0xcca8: {aead: "chacha", keyLen: 32, prfHash: sha256.New},            // ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	0xc009: {keyLen: 16, macHash: sha1.New, prfHash: sha256.New},         // ECDHE_ECDSA_WITH_AES_128_CBC_SHA
	0xc00a: {keyLen: 32, macHash: sha1.New, prfHash: sha256.New},         // ECDHE_ECDSA_WITH_AES_256_CBC_SHA
	0xc013: {keyLen: 16, macHash: sha1.New, prfHash: sha256.New},         // ECDHE_RSA_WITH_AES_128_CBC_SHA
	0xc014: {keyLen: 32, macHash: sha1.New, prfHash: sha256.New},         // ECDHE_RSA_WITH_AES_256_CBC_SHA
	0xc023: {keyLen: 16, macHash: sha256.New, prfHash: sha256.New},       // ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
	0xc027: {keyLen: 16, macHash: sha256.New, prfHash: sha256.New},       // ECDHE_RSA_WITH_AES_128_CBC_SHA256
	0xc024: {keyLen: 32, macHash: sha512.New384, prfHash: sha512.New384}, // ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
	0xc028: {keyLen: 32, macHash: sha512.New384, prfHash: sha512.New384}, // ECDHE_RSA_WITH_AES_256_CBC_SHA384

	0x0033: {keyLen: 16, macHash: sha1.New, prfHash: sha256.New},   // DHE_RSA_WITH_AES_128_CBC_SHA
	0x0039: {keyLen: 32, macHash: sha1.New, prfHash: sha256.New},   // DHE_RSA_WITH_AES_256_CBC_SHA
	0x0067: {keyLen: 16, macHash: sha256.New, prfHash: sha256.New}, // DHE_RSA_WITH_AES_128_CBC_SHA256
	0x006b: {keyLen: 32, macHash: sha256.New, prfHash: sha256.New}, // DHE_RSA_WITH_AES_256_CBC_SHA256
	0x0032: {keyLen: 16, macHash: sha1.New, prfHash: sha256.New},   // DHE_DSS_WITH_AES_128_CBC_SHA
	0x0038: {keyLen: 32, macHash: sha1.New, prfHash: sha256.New},   // DHE_DSS_WITH_AES_256_CBC_SHA
	0x0040: {keyLen: 16, macHash: sha256.New, prfHash: sha256.New}, // DHE_DSS_WITH_AES_128_CBC_SHA256
	0x006a: {keyLen: 32, macHash: sha256.New, prfHash: sha256.New}, // DHE_DSS_WITH_AES_256_CBC_SHA256
}

// recordCipher protects the records of one direction (RFC 5246 6.2.3).
type recordCipher struct {
	aead    cipher.AEAD
	salt    []byte // GCM: 4-byte implicit nonce part; ChaCha: the 12-byte IV
	chacha  bool
	block   cipher.Block // CBC
	macKey  []byte
	macHash func() hash.Hash
	etm     bool
	rand    io.Reader
	seq     uint64
}

func newRecordCipher(b bulk, key, iv, macKey []byte, etm bool, rnd io.Reader) (*recordCipher, error) {
	c := &recordCipher{salt: iv, rand: rnd}
	var err error
	switch b.aead {
	case "gcm":
		var blk cipher.Block
		if blk, err = aes.NewCipher(key); err == nil {
			c.aead, err = cipher.NewGCM(blk)
		}
	case "chacha":
		c.chacha = true
		c.aead, err = chacha20poly1305.New(key)
	default:
		c.block, err = aes.NewCipher(key)
		c.macKey, c.macHash, c.etm = macKey, b.macHash, etm
	}
	if err != nil {
		return nil, fmt.Errorf("record keys: %w", err)
	}
	return c, nil
}

// additional is seq_num + type + version + length (RFC 5246 6.2.3.1, 6.2.3.3).
func (c *recordCipher) additional(typ uint8, n int) []byte {
	var ad [13]byte
	binary.BigEndian.PutUint64(ad[:8], c.seq)
	ad[8], ad[9], ad[10] = typ, 3, 3
	binary.BigEndian.PutUint16(ad[11:], uint16(n))
	return ad[:]
}

// nonce is the AEAD nonce for the current sequence number: GCM's salt
// followed by the 8-byte explicit part (the sequence number, RFC 5288 3),
// ChaCha's IV xored with the padded sequence number (RFC 7905 2).
func (c *recordCipher) nonce() []byte {
	n := make([]byte, 12)
	if c.chacha {
		copy(n, c.salt)
		var s [8]byte
		binary.BigEndian.PutUint64(s[:], c.seq)
		for i := range s {
			n[4+i] ^= s[i]
		}
		return n
	}
	copy(n, c.salt)
	binary.BigEndian.PutUint64(n[4:], c.seq)
	return n
}

// seal returns one protected record (header included) carrying plaintext
// (at most maxRecordPayload bytes).
func (c *recordCipher) seal(typ uint8, plaintext []byte) ([]byte, error) {
	var payload []byte
	switch {
	case c.aead != nil:
		nonce := c.nonce()
		if !c.chacha {
			payload = append(payload, nonce[4:]...) // explicit nonce
		}
		payload = c.aead.Seal(payload, nonce, plaintext, c.additional(typ, len(plaintext)))
	default:
		var err error
		if payload, err = c.sealCBC(typ, plaintext); err != nil {
			return nil, err
		}
	}
	c.seq++
	rec := make([]byte, 0, recordHeaderLen+len(payload))
	rec = append(rec, typ, 3, 3, byte(len(payload)>>8), byte(len(payload)))
	return append(rec, payload...), nil
}

func (c *recordCipher) mac(typ uint8, data ...[]byte) []byte {
	n := 0
	for _, d := range data {
		n += len(d)
	}
	m := hmac.New(c.macHash, c.macKey)
	m.Write(c.additional(typ, n))
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// sealCBC is GenericBlockCipher (RFC 5246 6.2.3.2): a fresh IV, then
// content, MAC and padding encrypted; with encrypt_then_mac the MAC comes
// after the encryption and covers IV and ciphertext (RFC 7366 3).
func (c *recordCipher) sealCBC(typ uint8, plaintext []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	iv := make([]byte, bs)
	if _, err := io.ReadFull(c.rand, iv); err != nil {
		return nil, fmt.Errorf("record iv: %w", err)
	}
	body := append([]byte(nil), plaintext...)
	if !c.etm {
		body = append(body, c.mac(typ, plaintext)...)
	}
	pad := bs - len(body)%bs // 1..bs bytes of value pad-1
	for range pad {
		body = append(body, byte(pad-1))
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(body, body)
	out := append(iv, body...)
	if c.etm {
		out = append(out, c.mac(typ, out)...)
	}
	return out, nil
}

var errBadRecordMAC = errors.New("bad record mac")

// open checks and decrypts one record's payload.
func (c *recordCipher) open(typ uint8, payload []byte) ([]byte, error) {
	var out []byte
	var err error
	switch {
	case c.aead != nil:
		nonce := c.nonce()
		if !c.chacha {
			if len(payload) < 8 {
				return nil, fmt.Errorf("record of %d bytes: %w", len(payload), errBadRecordMAC)
			}
			copy(nonce[4:], payload[:8])
			payload = payload[8:]
		}
		if len(payload) < c.aead.Overhead() {
			return nil, fmt.Errorf("record of %d bytes: %w", len(payload), errBadRecordMAC)
		}
		out, err = c.aead.Open(nil, nonce, payload, c.additional(typ, len(payload)-c.aead.Overhead()))
		if err != nil {
			return nil, errBadRecordMAC
		}
	default:
		if out, err = c.openCBC(typ, payload); err != nil {
			return nil, err
		}
	}
	c.seq++
	return out, nil
}

func (c *recordCipher) openCBC(typ uint8, payload []byte) ([]byte, error) {
	bs, ml := c.block.BlockSize(), c.macHash().Size()
	if c.etm {
		if len(payload) < bs+bs+ml {
			return nil, errBadRecordMAC
		}
		data, tag := payload[:len(payload)-ml], payload[len(payload)-ml:]
		if !hmac.Equal(tag, c.mac(typ, data)) || (len(data)-bs)%bs != 0 {
			return nil, errBadRecordMAC
		}
		body := append([]byte(nil), data[bs:]...)
		cipher.NewCBCDecrypter(c.block, data[:bs]).CryptBlocks(body, body)
		return unpad(body, 0)
	}
	if len(payload) < bs+max(bs, ml+1) || (len(payload)-bs)%bs != 0 {
		return nil, errBadRecordMAC
	}
	body := append([]byte(nil), payload[bs:]...)
	cipher.NewCBCDecrypter(c.block, payload[:bs]).CryptBlocks(body, body)
	content, err := unpad(body, ml)
	if err != nil {
		return nil, err
	}
	text, tag := content[:len(content)-ml], content[len(content)-ml:]
	if !hmac.Equal(tag, c.mac(typ, text)) {
		return nil, errBadRecordMAC
	}
	return text, nil
}

// unpad removes CBC padding, leaving at least keep bytes. The client reads
// only its own session's replies: no padding-oracle care is needed.
func unpad(body []byte, keep int) ([]byte, error) {
	if len(body) == 0 {
		return nil, errBadRecordMAC
	}
	pad := int(body[len(body)-1])
	if pad+1+keep > len(body) {
		return nil, errBadRecordMAC
	}
	for _, b := range body[len(body)-pad-1:] {
		if int(b) != pad {
			return nil, errBadRecordMAC
		}
	}
	return body[:len(body)-pad-1], nil
}

// randOr is r, or crypto/rand when r is nil.
func randOr(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
