package store

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// filledFacts returns probe.Facts with every field set to a value that is
// not its zero value, by reflection: a field added to probe.Facts later is
// filled too, and the tests below then fail unless Record keeps it.
func filledFacts(t *testing.T) probe.Facts {
	t.Helper()
	var f probe.Facts
	v := reflect.ValueOf(&f).Elem()
	for i := range v.NumField() {
		fv, name := v.Field(i), v.Type().Field(i).Name
		switch fv.Interface().(type) {
		case netip.AddrPort:
			fv.Set(reflect.ValueOf(netip.MustParseAddrPort("[2001:db8::25]:2525")))
		case time.Time:
			fv.Set(reflect.ValueOf(time.Date(2026, 11, 29, 8, 1, 2, 345678901, time.UTC)))
		case time.Duration:
			fv.Set(reflect.ValueOf(1234567 * time.Nanosecond))
		default:
			switch fv.Kind() {
			case reflect.String:
				fv.SetString("v-" + strings.ToLower(name))
			case reflect.Int:
				fv.SetInt(int64(1000 + i))
			case reflect.Bool:
				fv.SetBool(true)
			case reflect.Slice:
				if name != "Also" {
					t.Fatalf("probe.Facts.%s: a slice this test does not fill: teach it", name)
				}
			default:
				t.Fatalf("probe.Facts.%s: kind %s, which this test does not fill: teach it", name, fv.Kind())
			}
		}
	}
	view := f // a view of the same address: views have no views
	view.DHBits, view.Time = 768, f.Time.Add(-time.Hour)
	f.Also = []probe.Facts{view}
	return f
}

// TestFactsRecordKeepsEveryField: every field of probe.Facts survives the
// compact record, and the key holds what the record leaves out.
func TestFactsRecordKeepsEveryField(t *testing.T) {
	for _, f := range []probe.Facts{filledFacts(t), {Addr: netip.MustParseAddrPort("192.0.2.1:25"), Client: "gnutls", Outcome: probe.OK}} {
		k := AddrKey{AP: f.Addr, Client: SymOf(f.Client)}
		rec := NewRecord(&f)
		if got := rec.Facts(k); !reflect.DeepEqual(got, f) {
			t.Errorf("record gives back\n%+v\nwant\n%+v", got, f)
		}
	}
}

// TestFactsRecordJSON: a record's JSON is its facts' JSON without addr and
// client, decodes strictly into the same record, and the key's text form
// reads back.
func TestFactsRecordJSON(t *testing.T) {
	f := filledFacts(t)
	full, _ := json.Marshal(f)
	var m map[string]any
	json.Unmarshal(full, &m)
	delete(m, "addr")
	delete(m, "client")
	for _, v := range m["also"].([]any) { // the views' addr and client are the key's too
		delete(v.(map[string]any), "addr")
		delete(v.(map[string]any), "client")
	}
	want, _ := json.Marshal(m)
	rec := NewRecord(&f)
	got, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var gm map[string]any
	json.Unmarshal(got, &gm)
	gotNorm, _ := json.Marshal(gm)
	if !bytes.Equal(gotNorm, want) {
		t.Errorf("record JSON\n%s\nwant\n%s", gotNorm, want)
	}
	var back Record
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(back, rec) {
		t.Errorf("decoded %+v, %v; want %+v", back, err, rec)
	}
	k := AddrKey{AP: f.Addr, Client: SymOf(f.Client)}
	text, _ := k.MarshalText()
	var k2 AddrKey
	if err := k2.UnmarshalText(text); err != nil || k2 != k || string(text) != "[2001:db8::25]:2525/v-client" {
		t.Errorf("key %q reads back as %v, %v", text, k2, err)
	}
	for _, bad := range []string{"", "192.0.2.1:25", "192.0.2.1/gnutls", "192.0.2.1:25/", "mx.example:25/gnutls", "192.0.2.1:25/" + strings.Repeat("x", 17)} {
		if err := k2.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// FuzzFactsRecordJSON: cache files are untrusted input. Whatever the bytes,
// decoding a key or a record does not panic, and what decodes re-encodes
// to something that decodes to the same.
func FuzzFactsRecordJSON(f *testing.F) {
	ff := probe.Facts{Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, DHBits: 768, Time: time.Unix(1700000000, 0)}
	b, _ := json.Marshal(NewRecord(&ff))
	f.Add(b, []byte("192.0.2.1:25/gnutls"))
	f.Add([]byte(`{"outcome":"error","stage":"banner","time":"0001-01-01T00:00:00Z","duration_ns":-1}`), []byte("[::1]:25/openssl"))
	f.Fuzz(func(t *testing.T, value, key []byte) {
		var k AddrKey
		if k.UnmarshalText(key) == nil {
			text, _ := k.MarshalText()
			var k2 AddrKey
			if err := k2.UnmarshalText(text); err != nil || k2 != k {
				t.Errorf("key %q -> %q -> %v, %v", key, text, k2, err)
			}
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(value))
		dec.DisallowUnknownFields()
		if dec.Decode(&r) != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", r, err)
		}
		var r2 Record
		if err := json.Unmarshal(out, &r2); err != nil || r2 != r {
			t.Errorf("%s -> %+v -> %s -> %+v, %v", value, r, out, r2, err)
		}
	})
}
