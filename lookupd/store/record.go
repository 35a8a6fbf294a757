package store

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unique"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// AddrKey is what the facts cache is keyed by: an address and port, and the
// TLS client the facts were observed with (another client may meet the same
// server differently, so a change of probe.client starts afresh).
type AddrKey struct {
	AP     netip.AddrPort
	Client Sym
}

func (k AddrKey) String() string { return k.AP.String() + "/" + k.Client.String() }

// MarshalText writes "ip:port/client" ("[v6]:port/client").
func (k AddrKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText writes, strictly: cache files are
// untrusted input.
func (k *AddrKey) UnmarshalText(b []byte) error {
	s := string(b)
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return errors.New("parse address key: no /client")
	}
	ap, err := netip.ParseAddrPort(s[:i])
	if err != nil {
		return fmt.Errorf("parse address key: %w", err)
	}
	client := s[i+1:]
	if client == "" || len(client) > 16 {
		return fmt.Errorf("parse address key: bad client %q", client)
	}
	*k = AddrKey{AP: ap, Client: SymOf(client)}
	return nil
}

// Record is probe.Facts as the facts cache keeps them, a hundred
// thousand and more: no address or client (the key has them), the few
// recurring strings (outcome, stage, TLS version, cipher, key type) as
// process-wide unique handles, the time as Unix nanoseconds. Its JSON is
// probe.Facts' without addr and client.
type Record struct {
	Outcome     Sym           `json:"outcome"`
	Stage       Sym           `json:"stage,omitzero"`
	Error       string        `json:"error,omitempty"`
	TLSVersion  Sym           `json:"tls_version,omitzero"`
	Cipher      Sym           `json:"cipher,omitzero"`
	KeyType     Sym           `json:"key_type,omitzero"`
	KeyBits     int32         `json:"key_bits,omitempty"`
	DHBits      int32         `json:"dh_bits,omitempty"`
	TLS13       bool          `json:"tls13,omitempty"`
	NoDHE       Sym           `json:"no_dhe,omitzero"`
	NoDHECipher Sym           `json:"no_dhe_cipher,omitzero"`
	Note        string        `json:"note,omitempty"`
	Time        UnixNano      `json:"time"`
	Duration    time.Duration `json:"duration_ns"`
	// remedies (issue 19): the SKE signature's hash, a report's view, the
	// address's other views (lookupd/observe; entries have no Also). A
	// pointer keeps the record comparable (the fleet's peerTTL map).
	SigHash  Sym       `json:"sig_hash,omitzero"`
	Reported Sym       `json:"reported,omitzero"`
	Also     *[]Record `json:"also,omitempty"`
	// KXUnobserved: probe.Facts.KXUnobserved (the polite probe, issue 18).
	KXUnobserved bool `json:"kx_unobserved,omitempty"`
}

// NewRecord is f as the cache keeps it (f.Addr and f.Client go in the key).
func NewRecord(f *probe.Facts) Record {
	return Record{
		Outcome:      SymOf(string(f.Outcome)),
		Stage:        SymOf(string(f.Stage)),
		Error:        f.Error,
		TLSVersion:   SymOf(f.TLSVersion),
		Cipher:       SymOf(f.Cipher),
		KeyType:      SymOf(f.KeyType),
		KeyBits:      int32(f.KeyBits),
		DHBits:       int32(f.DHBits),
		TLS13:        f.TLS13,
		NoDHE:        SymOf(string(f.NoDHE)),
		NoDHECipher:  SymOf(f.NoDHECipher),
		Note:         f.Note,
		Time:         UnixNanoOf(f.Time),
		Duration:     f.Duration,
		SigHash:      SymOf(f.SigHash),          // remedies (issue 19)
		Reported:     SymOf(string(f.Reported)), // remedies (issue 19)
		Also:         alsoRecords(f.Also),       // remedies (issue 19)
		KXUnobserved: f.KXUnobserved,
	}
}

// alsoRecords and alsoFacts convert the views (remedies, issue 19).
func alsoRecords(also []probe.Facts) *[]Record {
	if len(also) == 0 {
		return nil
	}
	out := make([]Record, len(also))
	for i := range also {
		v := also[i]
		v.Also = nil
		out[i] = NewRecord(&v)
	}
	return &out
}

func (r *Record) Views() []Record {
	if r.Also == nil {
		return nil
	}
	return *r.Also
}

func alsoFacts(k AddrKey, also []Record) []probe.Facts {
	if len(also) == 0 {
		return nil
	}
	out := make([]probe.Facts, len(also))
	for i := range also {
		out[i] = also[i].Facts(k)
		out[i].Also = nil
	}
	return out
}

// Facts are the probe.Facts the record holds for k.
func (r *Record) Facts(k AddrKey) probe.Facts {
	return probe.Facts{
		Addr:         k.AP,
		Client:       tlswire.Client(k.Client.String()),
		Outcome:      probe.Outcome(r.Outcome.String()),
		Stage:        stage.Stage(r.Stage.String()),
		Error:        r.Error,
		TLSVersion:   r.TLSVersion.String(),
		Cipher:       r.Cipher.String(),
		KeyType:      r.KeyType.String(),
		KeyBits:      int(r.KeyBits),
		DHBits:       int(r.DHBits),
		TLS13:        r.TLS13,
		NoDHE:        probe.NoDHE(r.NoDHE.String()),
		NoDHECipher:  r.NoDHECipher.String(),
		Note:         r.Note,
		Time:         r.Time.Time(),
		Duration:     r.Duration,
		SigHash:      r.SigHash.String(),                         // remedies (issue 19)
		Reported:     probe.ReportedFailure(r.Reported.String()), // remedies (issue 19)
		Also:         alsoFacts(k, r.Views()),                    // remedies (issue 19)
		KXUnobserved: r.KXUnobserved,
	}
}

// isError reports whether the probe failed (the shorter error_ttl applies).
func (r *Record) IsError() bool { return r.Outcome.String() == string(probe.Error) }

// Sym is a string held once for the whole process (unique.Make): 8 bytes
// in a record instead of a 16-byte header and a copy of its own. For the
// few values that recur in every record; the zero Sym is "".
type Sym struct{ h unique.Handle[string] }

func SymOf[S ~string](s S) Sym {
	if s == "" {
		return Sym{}
	}
	return Sym{unique.Make(string(s))}
}

func (s Sym) String() string {
	if s.IsZero() {
		return ""
	}
	return s.h.Value()
}

// IsZero reports whether s is "" (for the omitzero JSON option).
func (s Sym) IsZero() bool { return s == Sym{} }

func (s Sym) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Sym) UnmarshalText(b []byte) error {
	*s = SymOf(string(b))
	return nil
}

// UnixNano is a time as Unix nanoseconds, 0 for the zero time; its JSON is
// time.Time's. Times outside the years 1678-2262 are clamped to them.
type UnixNano int64

var (
	minUnixNano = time.Unix(0, -1<<63)
	maxUnixNano = time.Unix(0, 1<<63-1)
)

func UnixNanoOf(t time.Time) UnixNano {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minUnixNano):
		t = minUnixNano
	case t.After(maxUnixNano):
		t = maxUnixNano
	}
	return UnixNano(t.UnixNano())
}

func (n UnixNano) Time() time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

func (n UnixNano) MarshalText() ([]byte, error) { return n.Time().MarshalText() }

func (n *UnixNano) UnmarshalText(b []byte) error {
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return err
	}
	*n = UnixNanoOf(t)
	return nil
}
