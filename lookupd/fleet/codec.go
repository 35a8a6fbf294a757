package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// Version is the schema version written in every value. A value of
// another version is a miss (ErrVersion): a relay of a newer or older
// release probes rather than guess.
const Version = 1

// MaxValue bounds a value's size; a longer one is corrupt.
const MaxValue = 16 << 10

// magic starts every value: the schema version, as text, so that
// redis-cli shows what a value is.
var magic = []byte("tp" + strconv.Itoa(Version) + " ")

// Errors of Decode. Both mean: a miss.
var (
	ErrVersion = errors.New("fleet: value of another schema version")
	ErrCorrupt = errors.New("fleet: corrupt value")
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// checksum binds a value to its key: a value copied under another key (the
// facts of one address under another's) does not decode.
func checksum(key string, payload []byte) uint32 {
	h := crc32.Update(0, crcTable, []byte(key))
	h = crc32.Update(h, crcTable, []byte{0})
	return crc32.Update(h, crcTable, payload)
}

// Encode is v as stored under key: "tp1 ", the CRC-32C of key and JSON as
// 8 hex digits, a space, then v's JSON.
func Encode(key string, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	out := make([]byte, 0, len(magic)+9+len(payload))
	out = append(out, magic...)
	out = fmt.Appendf(out, "%08x ", checksum(key, payload))
	out = append(out, payload...)
	if len(out) > MaxValue {
		return nil, fmt.Errorf("encode %s: %d bytes, more than %d", key, len(out), MaxValue)
	}
	return out, nil
}

// Decode reads into v what Encode wrote under key, strictly: the size, the
// version, the checksum, then JSON with no unknown field and nothing after
// it. Errors wrap ErrVersion or ErrCorrupt; v is then undefined.
func Decode(key string, b []byte, v any) error {
	if len(b) > MaxValue {
		return fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	if !bytes.HasPrefix(b, magic) {
		if otherVersion(b) {
			return ErrVersion
		}
		return fmt.Errorf("%w: no version", ErrCorrupt)
	}
	b = b[len(magic):]
	if len(b) < 9 || b[8] != ' ' {
		return fmt.Errorf("%w: no checksum", ErrCorrupt)
	}
	sum, err := strconv.ParseUint(string(b[:8]), 16, 32)
	if err != nil {
		return fmt.Errorf("%w: bad checksum", ErrCorrupt)
	}
	payload := b[9:]
	if uint32(sum) != checksum(key, payload) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if d.More() {
		return fmt.Errorf("%w: data after the value", ErrCorrupt)
	}
	if _, err := d.Token(); err == nil {
		return fmt.Errorf("%w: data after the value", ErrCorrupt)
	}
	return nil
}

// otherVersion reports whether b starts like a value of some version:
// "tp", digits, a space.
func otherVersion(b []byte) bool {
	rest, ok := bytes.CutPrefix(b, []byte("tp"))
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && i < 10 && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	return i > 0 && i < len(rest) && rest[i] == ' '
}
