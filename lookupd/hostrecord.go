package lookupd

import (
	"net/netip"
	"time"
	"unique"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// hostRecord is a probe.Result as the host cache keeps it, a hundred
// thousand of them and more: no host name (the cache key has it), the
// address as a netip.AddrPort, the few recurring strings (outcome, stage,
// TLS version, cipher, key type) as process-wide unique handles, the time as
// Unix nanoseconds. It takes 144 bytes where a probe.Result takes 216 plus a
// separate copy of each of its strings. Its JSON is probe.Result's, so a
// cache file reads the same before and after.
type hostRecord struct {
	Host       discarded      `json:"host,omitzero"` // older files carry it; the key has it
	Addr       netip.AddrPort `json:"addr,omitzero"`
	Outcome    sym            `json:"outcome"`
	Stage      sym            `json:"stage,omitzero"`
	Error      string         `json:"error,omitempty"`
	TLSVersion sym            `json:"tls_version,omitzero"`
	Cipher     sym            `json:"cipher,omitzero"`
	KeyType    sym            `json:"key_type,omitzero"`
	KeyBits    int32          `json:"key_bits,omitempty"`
	DHBits     int32          `json:"dh_bits,omitempty"`
	TLS13      bool           `json:"tls13,omitempty"`
	Note       string         `json:"note,omitempty"`
	Time       unixNano       `json:"time"`
	Duration   time.Duration  `json:"duration_ns"`
	KeyMinBits int32          `json:"key_min_bits,omitempty"`
	DHMinBits  int32          `json:"dh_min_bits,omitempty"`
}

// newHostRecord is r as the cache keeps it. r.Addr is what probe.Host
// writes, netip.AddrPort's form; anything else is left out.
func newHostRecord(r probe.Result) hostRecord {
	addr, _ := netip.ParseAddrPort(r.Addr)
	return hostRecord{
		Addr:       addr,
		Outcome:    symOf(string(r.Outcome)),
		Stage:      symOf(r.Stage),
		Error:      r.Error,
		TLSVersion: symOf(r.TLSVersion),
		Cipher:     symOf(r.Cipher),
		KeyType:    symOf(r.KeyType),
		KeyBits:    int32(r.KeyBits),
		DHBits:     int32(r.DHBits),
		KeyMinBits: int32(r.KeyMinBits),
		DHMinBits:  int32(r.DHMinBits),
		TLS13:      r.TLS13,
		Note:       r.Note,
		Time:       unixNanoOf(r.Time),
		Duration:   r.Duration,
	}
}

// outcome is the record's outcome, without building its Result.
func (h *hostRecord) outcome() probe.Outcome { return probe.Outcome(h.Outcome.String()) }

// result is the probe.Result of host that the record holds.
func (h *hostRecord) result(host string) probe.Result {
	var addr string
	if h.Addr.IsValid() {
		addr = h.Addr.String()
	}
	return probe.Result{
		Host:       host,
		Addr:       addr,
		Outcome:    h.outcome(),
		Stage:      h.Stage.String(),
		Error:      h.Error,
		TLSVersion: h.TLSVersion.String(),
		Cipher:     h.Cipher.String(),
		KeyType:    h.KeyType.String(),
		KeyBits:    int(h.KeyBits),
		DHBits:     int(h.DHBits),
		KeyMinBits: int(h.KeyMinBits),
		DHMinBits:  int(h.DHMinBits),
		TLS13:      h.TLS13,
		Note:       h.Note,
		Time:       h.Time.time(),
		Duration:   h.Duration,
	}
}

// sym is a string held once for the whole process (unique.Make): 8 bytes
// in a record instead of a 16-byte header and a copy of its own. For the
// few values that recur in every record; the zero sym is "".
type sym struct{ h unique.Handle[string] }

func symOf(s string) sym {
	if s == "" {
		return sym{}
	}
	return sym{unique.Make(s)}
}

func (s sym) String() string {
	if s.IsZero() {
		return ""
	}
	return s.h.Value()
}

// IsZero reports whether s is "" (for the omitzero JSON option).
func (s sym) IsZero() bool { return s == sym{} }

func (s sym) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *sym) UnmarshalText(b []byte) error {
	*s = symOf(string(b))
	return nil
}

// unixNano is a time as Unix nanoseconds, 0 for the zero time; its JSON is
// time.Time's. Times outside the years 1678-2262 are clamped to them.
type unixNano int64

var (
	minUnixNano = time.Unix(0, -1<<63)
	maxUnixNano = time.Unix(0, 1<<63-1)
)

func unixNanoOf(t time.Time) unixNano {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minUnixNano):
		t = minUnixNano
	case t.After(maxUnixNano):
		t = maxUnixNano
	}
	return unixNano(t.UnixNano())
}

func (n unixNano) time() time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

func (n unixNano) MarshalText() ([]byte, error) { return n.time().MarshalText() }

func (n *unixNano) UnmarshalText(b []byte) error {
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return err
	}
	*n = unixNanoOf(t)
	return nil
}

// discarded accepts any JSON value and keeps nothing; it is always zero, so
// an omitzero field of this type is never written.
type discarded struct{}

func (discarded) IsZero() bool                 { return true }
func (*discarded) UnmarshalJSON([]byte) error  { return nil }
func (discarded) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
