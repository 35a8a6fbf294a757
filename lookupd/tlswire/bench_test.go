package tlswire

import (
	"bytes"
	"crypto/tls"
	"testing"
)

// BenchmarkBuildHello is the ClientHello of each modelled client, as the
// probe sends it (key shares drawn from crypto/rand).
func BenchmarkBuildHello(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  HelloConfig
	}{
		{"gnutls", HelloConfig{}},
		{"gnutls-tls12", HelloConfig{MaxVersion: tls.VersionTLS12}},
		{"openssl", HelloConfig{Client: ClientOpenSSL}},
		{"openssl-tls12", HelloConfig{Client: ClientOpenSSL, MaxVersion: tls.VersionTLS12}},
		{"allsuites-tls12", HelloConfig{AllSuites: true, MaxVersion: tls.VersionTLS12}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := BuildHello(tc.cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadFlight parses each captured openssl s_server flight
// (testdata/hello/flight-*.bin) with the hello that was sent for it.
func BenchmarkReadFlight(b *testing.B) {
	for _, c := range capturedFlights {
		b.Run(c.file, func(b *testing.B) {
			h, err := BuildHello(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			data := testdata(b, c.file)
			r := bytes.NewReader(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				_, err := ReadFlight(r, h)
				if (err != nil) != (c.alert != 0) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKeyInfo reads the key type and size of a captured leaf certificate.
func BenchmarkKeyInfo(b *testing.B) {
	h, err := BuildHello(HelloConfig{})
	if err != nil {
		b.Fatal(err)
	}
	f, err := ReadFlight(bytes.NewReader(testdata(b, "flight-openssl-dhe-rsa2048.bin")), h)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, bits, err := KeyInfo(f.Certificates[0]); err != nil || bits != 2048 {
			b.Fatal(bits, err)
		}
	}
}
