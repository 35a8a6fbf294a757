package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire/internal/tlslab"
)

// flightCase is one s_server set-up and the hello written to it. The test
// table in flight_test.go of package tlswire holds the same hellos.
type flightCase struct {
	file   string
	cert   string // tlslab.Cert kind
	dh     int    // DH prime bits, 0 = none
	args   []string
	hello  tlswire.HelloConfig
	expect string // what the flight shows, for the log
}

var flightCases = []flightCase{
	{"flight-openssl-dhe-rsa2048.bin", "rsa2048", 2048,
		[]string{"-no_tls1_3", "-cipher", "DHE-RSA-AES128-GCM-SHA256"},
		tlswire.HelloConfig{}, "TLS1.2 DHE-RSA, 2048-bit prime"},
	{"flight-openssl-dhe-rsa2048-sentinel.bin", "rsa2048", 2048,
		[]string{"-cipher", "DHE-RSA-AES128-GCM-SHA256"},
		tlswire.HelloConfig{MaxVersion: tls.VersionTLS12}, "TLS1.2 DHE-RSA from a TLS 1.3 server: downgrade sentinel"},
	{"flight-openssl-ecdhe-rsa2048.bin", "rsa2048", 0,
		[]string{"-no_tls1_3", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"},
		tlswire.HelloConfig{Client: tlswire.ClientOpenSSL}, "TLS1.2 ECDHE-RSA x25519"},
	{"flight-openssl-rsakx-rsa1024.bin", "rsa1024", 0,
		[]string{"-no_tls1_3", "-cipher", "AES128-GCM-SHA256:@SECLEVEL=0"},
		tlswire.HelloConfig{}, "TLS1.2 RSA key exchange, RSA-1024 certificate"},
	{"flight-openssl-dhe-dss1024.bin", "dsa1024", 1024,
		[]string{"-no_tls1_3", "-cipher", "DHE-DSS-AES128-SHA:@SECLEVEL=0"},
		tlswire.HelloConfig{AllSuites: true, MaxVersion: tls.VersionTLS12}, "TLS1.2 DHE-DSS, DSA-1024, 1024-bit prime"},
	{"flight-openssl-certreq.bin", "ecp256", 0,
		[]string{"-no_tls1_3", "-verify", "1"},
		tlswire.HelloConfig{}, "TLS1.2 ECDHE-ECDSA with CertificateRequest"},
	{"flight-openssl-tls13.bin", "rsa2048", 0, nil,
		tlswire.HelloConfig{}, "TLS1.3 ServerHello, P-256 share"},
	{"flight-openssl-hrr.bin", "rsa2048", 0,
		[]string{"-groups", "P-384"},
		tlswire.HelloConfig{}, "TLS1.3 HelloRetryRequest for P-384"},
	{"flight-openssl-alert.bin", "rsa2048", 0,
		[]string{"-no_tls1_3", "-cipher", "DHE-DSS-AES128-GCM-SHA256"},
		tlswire.HelloConfig{}, "handshake_failure alert (no shared suite)"},
}

func captureFlights(dir string) error {
	if err := tlslab.Need("openssl"); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tlswire-capture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, c := range flightCases {
		raw, f, ferr, err := captureFlight(tmp, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		var se *stage.Error
		if errors.As(ferr, &se) && se.Stage == stage.TLSRecord {
			return fmt.Errorf("%s: read flight: %w", c.file, ferr)
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), raw, 0o644); err != nil {
			return err
		}
		log.Printf("wrote %s (%d bytes; want %s): %s %s kx=%s dh=%d curve=0x%04x certs=%d hrr=%v sentinel=%v err=%v",
			c.file, len(raw), c.expect, tlswire.VersionName(f.Version), tlswire.CipherSuiteName(f.CipherSuite),
			f.KeyExchange, f.DHBits(), f.Curve, len(f.Certificates), f.HelloRetry, f.ServerTLS13, ferr)
	}
	return nil
}

// captureFlight writes the case's hello to a fresh s_server and returns the
// bytes ReadFlight consumed, its result and its error.
func captureFlight(tmp string, c flightCase) ([]byte, tlswire.Flight, error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var f tlswire.Flight
	crt, key, err := tlslab.Cert(ctx, tmp, c.cert)
	if err != nil {
		return nil, f, nil, err
	}
	args := append([]string{"-cert", crt, "-key", key}, c.args...)
	if c.dh > 0 {
		dh, err := tlslab.DH(ctx, tmp, c.dh)
		if err != nil {
			return nil, f, nil, err
		}
		args = append(args, "-dhparam", dh)
	}
	srv, err := tlslab.StartSServer(ctx, args...)
	if err != nil {
		return nil, f, nil, err
	}
	defer srv.Stop()
	h, err := tlswire.BuildHello(c.hello)
	if err != nil {
		return nil, f, nil, err
	}
	conn, err := net.DialTimeout("tcp", srv.Addr, 10*time.Second)
	if err != nil {
		return nil, f, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return nil, f, nil, err
	}
	if _, err := conn.Write(h.Record); err != nil {
		return nil, f, nil, err
	}
	var raw bytes.Buffer
	f, ferr := tlswire.ReadFlight(io.TeeReader(conn, &raw), h)
	return raw.Bytes(), f, ferr, nil
}
