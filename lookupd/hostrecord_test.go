package lookupd

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// recordCases are results of every shape: the bench set's outcomes
// (ok, TLS 1.3, smallkey, tlsexport, notls, error with an address), a DNS
// failure without an address, an IPv6 address, and a zero time.
func recordCases() []probe.Result {
	now := time.Date(2026, 11, 29, 8, 1, 2, 345678901, time.UTC)
	var rs []probe.Result
	for i := range 60 {
		rs = append(rs, benchResult(i, now))
	}
	rs = append(rs,
		probe.Result{Host: "mx.dns.test", Outcome: probe.Error, Stage: "dns", Error: "look up addresses: SERVFAIL", Time: now, Duration: 3 * time.Millisecond},
		probe.Result{Host: "mx6.test", Addr: "[2001:db8::25]:25", Outcome: probe.OK, TLSVersion: "TLS1.3", Cipher: "TLS_AES_128_GCM_SHA256",
			KeyType: "Ed25519", KeyBits: 256, TLS13: true, Note: "a note", Time: now, KeyMinBits: 2048, DHMinBits: 1024},
		probe.Result{Host: "zero.test", Outcome: probe.OK},
	)
	return rs
}

func TestHostRecordKeepsEveryField(t *testing.T) {
	for _, r := range recordCases() {
		rec := newHostRecord(r)
		got := rec.result(r.Host)
		if !got.Time.Equal(r.Time) {
			t.Errorf("%s: time %v, want %v", r.Host, got.Time, r.Time)
		}
		got.Time = r.Time
		if got != r {
			t.Errorf("%s: record gives back\n%+v\nwant\n%+v", r.Host, got, r)
		}
		if rec.outcome() != r.Outcome {
			t.Errorf("%s: outcome %q, want %q", r.Host, rec.outcome(), r.Outcome)
		}
	}
}

// TestHostRecordJSONIsResultJSON: a record's JSON is its Result's without
// "host", and a Result's JSON (what cache files held before records, host
// included) decodes into the same record, strictly.
func TestHostRecordJSONIsResultJSON(t *testing.T) {
	for _, r := range recordCases() {
		fromResult, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		withoutHost := r
		withoutHost.Host = ""
		want, _ := json.Marshal(withoutHost)
		want = bytes.Replace(want, []byte(`"host":"",`), nil, 1)
		rec := newHostRecord(r)
		got, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: record JSON\n%s\nwant\n%s", r.Host, got, want)
		}
		var back hostRecord
		dec := json.NewDecoder(bytes.NewReader(fromResult))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("%s: decode %s: %v", r.Host, fromResult, err)
		}
		if back != rec {
			t.Errorf("%s: decoded %+v, want %+v", r.Host, back, rec)
		}
	}
}

// TestHostRecordSize pins the saving the record exists for (on 64-bit).
func TestHostRecordSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if rec, res := unsafe.Sizeof(hostRecord{}), unsafe.Sizeof(probe.Result{}); rec > 144 || res <= rec {
		t.Fatalf("hostRecord is %d bytes, probe.Result %d; want at most 144", rec, res)
	}
}

func TestUnixNanoClampsAndKeepsZero(t *testing.T) {
	for _, c := range []struct {
		in   time.Time
		want time.Time
	}{
		{time.Time{}, time.Time{}},
		{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), minUnixNano.UTC()},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), maxUnixNano.UTC()},
		{time.Date(2026, 11, 29, 8, 0, 0, 1, time.UTC), time.Date(2026, 11, 29, 8, 0, 0, 1, time.UTC)},
	} {
		if got := unixNanoOf(c.in).time(); !got.Equal(c.want) || got.IsZero() != c.want.IsZero() {
			t.Errorf("unixNanoOf(%v).time() = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestLoadCacheOfResults: a cache file that holds probe.Results (as the
// daemon wrote them before host records) loads, and answers.
func TestLoadCacheOfResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	old, err := cache.New(cache.Options[string, probe.Result]{
		Load: func(context.Context, string) (probe.Result, error) { return probe.Result{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		old.Set(benchHost(i), benchResult(i, time.Now()))
	}
	if err := old.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	s := benchService(t, 0)
	if got, err := s.hosts.LoadFile(path); err != nil || got != n {
		t.Fatalf("LoadFile = %d, %v; want %d", got, err, n)
	}
	for i := range n {
		rec, _, _, ok := s.hosts.Peek(benchHost(i))
		want := benchResult(i, time.Time{})
		if got := rec.result(benchHost(i)); !ok || got.Outcome != want.Outcome || got.Addr != want.Addr || got.Cipher != want.Cipher {
			t.Fatalf("host %d: %+v, want %+v", i, got, want)
		}
	}
}

// FuzzHostRecordJSON: whatever a cache file holds, decoding a record
// never panics, and what decodes encodes and decodes back the same.
func FuzzHostRecordJSON(f *testing.F) {
	for _, r := range recordCases()[:5] {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte(`{"addr":"[::1%eth0]:25","time":"0001-01-01T00:00:00Z","stage":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec hostRecord
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("marshal %+v: %v", rec, err)
		}
		var back hostRecord
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", out, err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("round trip %s -> %+v, want %+v", out, back, rec)
		}
	})
}
