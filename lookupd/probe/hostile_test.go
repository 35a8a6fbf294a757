package probe_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// zooTimeout is the probe timeout of the zoo: short, so that the behaviours
// that stall cost seconds, not minutes.
const zooTimeout = 2 * time.Second

// zooCase is one hostile behaviour and what the probe must make of it: an
// error outcome at stage, with every substring of errs in the error text.
type zooCase struct {
	name   string
	behave func(c *zooConn)
	stage  stage.Stage
	errs   []string
	// memory: the case also runs alone in TestZooMemory.
	memory bool
}

// Payloads shared by the cases, built once (so that the memory test does
// not count the server's own buffers).
var (
	endlessBanner = bytes.Repeat([]byte("220-mx.zoo.test endless greeting\r\n"), 512)
	endlessEHLO   = bytes.Repeat([]byte("250-X-ZOO endless extension\r\n"), 512)
	megaLine      = append(append([]byte("220 "), bytes.Repeat([]byte("a"), 1<<20)...), "\r\n"...)
	megaEHLO      = append([]byte("250"), megaLine[3:]...)
	// Zero-length HelloRequests are skipped by clients (RFC 5246 7.4.1.1),
	// warning alerts too: endless streams of them must still end.
	helloRequests = bytes.Repeat(record(recHandshake, bytes.Repeat([]byte{0, 0, 0, 0}, 4096)), 16)
	warnAlerts    = bytes.Repeat(alert(1, 112), 4096)
	bigPrime      = prime(16385)
	goodPrime     = prime(2048)
)

// forever writes b until the connection fails.
func (c *zooConn) forever(b []byte) {
	for c.send(b) {
	}
}

func zooCases(der []byte) []zooCase {
	// flight sends a ServerHello for the offered DHE suite and then the
	// given bytes.
	flight := func(rest func(suite uint16) []byte) func(c *zooConn) {
		return func(c *zooConn) {
			if suite, ok := c.tlsStart(); ok {
				c.send(append(hsRecord(serverHello(suite)), rest(suite)...))
				c.drain()
			}
		}
	}
	cert := hsRecord(certificateMsg(der))
	return []zooCase{
		// Before TLS.
		{name: "banner-endless-continuation", stage: "banner", errs: []string{"too many reply lines"}, memory: true,
			behave: func(c *zooConn) { c.forever(endlessBanner) }},
		{name: "banner-1MB-line", stage: "banner", errs: []string{"reply line too long"}, memory: true,
			behave: func(c *zooConn) { c.send(megaLine); c.drain() }},
		{name: "banner-trickle-1-byte-per-second", stage: "banner", errs: []string{"i/o timeout"},
			behave: func(c *zooConn) {
				for _, b := range []byte("220 mx.zoo.test slowly, very slowly\r\n") {
					if !c.send([]byte{b}) || !c.sleep(time.Second) {
						return
					}
				}
			}},
		{name: "banner-garbage-code", stage: "banner", errs: []string{"malformed reply"},
			behave: func(c *zooConn) { c.say("2x0 mx.zoo.test\r\n"); c.drain() }},
		{name: "banner-code-999", stage: "banner", errs: []string{"malformed reply"},
			behave: func(c *zooConn) { c.say("999 mx.zoo.test\r\n"); c.drain() }},
		{name: "banner-binary", stage: "banner", errs: []string{"malformed reply"},
			behave: func(c *zooConn) { c.send([]byte("\x00\xff\xfe\x16\x03\x01\r\n")); c.drain() }},
		{name: "banner-http", stage: "banner", errs: []string{"malformed reply"},
			behave: func(c *zooConn) { c.say("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"); c.drain() }},
		{name: "banner-reset", stage: "banner", errs: []string{"connection reset"},
			behave: func(c *zooConn) {
				// After a pause, or the RST may reach the probe inside connect().
				if c.sleep(50 * time.Millisecond) {
					c.reset()
				}
			}},
		{name: "accept-never-read-never-write", stage: "banner", errs: []string{"i/o timeout"},
			behave: func(c *zooConn) { c.hold() }},
		{name: "ehlo-endless-continuation", stage: "ehlo", errs: []string{"too many reply lines"}, memory: true,
			behave: func(c *zooConn) {
				if c.banner() {
					c.line()
					c.forever(endlessEHLO)
				}
			}},
		{name: "ehlo-1MB-line", stage: "ehlo", errs: []string{"reply line too long"}, memory: true,
			behave: func(c *zooConn) {
				if c.banner() {
					c.line()
					c.send(megaEHLO)
					c.drain()
				}
			}},
		{name: "ehlo-garbage-code", stage: "ehlo", errs: []string{"malformed reply"},
			behave: func(c *zooConn) {
				if c.banner() {
					c.line()
					c.say("250-mx.zoo.test\r\n251 STARTTLS\r\n") // codes disagree
					c.drain()
				}
			}},
		{name: "ehlo-reset", stage: "ehlo", errs: []string{"connection reset"},
			behave: func(c *zooConn) {
				if c.banner() {
					c.line()
					c.reset()
				}
			}},
		{name: "starttls-reset", stage: "starttls", errs: []string{"connection reset"},
			behave: func(c *zooConn) {
				if c.banner() && c.ehlo() && c.readStartTLS() {
					c.reset()
				}
			}},
		{name: "starttls-garbage-code", stage: "starttls", errs: []string{"malformed reply"},
			behave: func(c *zooConn) {
				if c.banner() && c.ehlo() && c.readStartTLS() {
					c.say("22\r\n")
					c.drain()
				}
			}},
		// After STARTTLS: what comes instead of a TLS flight.
		{name: "starttls-accepted-then-silence", stage: "tls-record", errs: []string{"i/o timeout"},
			behave: func(c *zooConn) {
				if c.smtp() {
					c.hold()
				}
			}},
		{name: "plain-text-instead-of-tls", stage: "tls-record", errs: []string{"not TLS", `"500 5"`},
			behave: func(c *zooConn) {
				if c.smtp() {
					c.say("500 5.5.1 what is this?\r\n")
					c.drain()
				}
			}},
		{name: "sslv2-server-hello", stage: "tls-record", errs: []string{"not TLS"},
			behave: func(c *zooConn) {
				if c.smtp() {
					// SSLv2 SERVER-HELLO: 2-byte header with the high bit, type 4.
					c.send([]byte{0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x10})
					c.drain()
				}
			}},
		{name: "http-instead-of-tls", stage: "tls-record", errs: []string{"not TLS", "HTTP/"},
			behave: func(c *zooConn) {
				if c.smtp() {
					c.say("HTTP/1.1 400 Bad Request\r\nServer: zoo\r\nContent-Length: 0\r\n\r\n")
					c.drain()
				}
			}},
		{name: "record-length-65535", stage: "tls-record", errs: []string{"65535 bytes", "too large"}, memory: true,
			behave: func(c *zooConn) {
				if _, ok := c.tlsStart(); ok {
					c.send(append([]byte{recHandshake, 3, 3, 0xff, 0xff}, bytes.Repeat([]byte{2}, 4096)...))
					c.drain()
				}
			}},
		{name: "handshake-length-2^24-1", stage: "server-hello", errs: []string{"16777215 bytes", "too large"}, memory: true,
			behave: func(c *zooConn) {
				if _, ok := c.tlsStart(); ok {
					// A ServerHello header claiming 16 MB, then records that never end.
					c.send(record(recHandshake, []byte{2, 0xff, 0xff, 0xff}))
					c.forever(record(recHandshake, bytes.Repeat([]byte{0x42}, 1<<14)))
				}
			}},
		{name: "hello-request-flood", stage: "tls-record", errs: []string{"too large"}, memory: true,
			behave: func(c *zooConn) {
				if _, ok := c.tlsStart(); ok {
					c.forever(helloRequests)
				}
			}},
		{name: "warning-alert-flood", stage: "tls-record", errs: []string{"too large"}, memory: true,
			behave: func(c *zooConn) {
				if _, ok := c.tlsStart(); ok {
					c.forever(warnAlerts)
				}
			}},
		{name: "server-hello-suite-not-offered", stage: "server-hello", errs: []string{"cipher suite not offered"},
			behave: func(c *zooConn) {
				if _, ok := c.tlsStart(); ok {
					// The renegotiation SCSV: a signalling value the hello sends, never a suite.
					c.send(hsRecord(serverHello(0x00ff)))
					c.drain()
				}
			}},
		{name: "certificate-list-longer-than-message", stage: "certificate", errs: []string{"certificate list longer than message"},
			behave: flight(func(uint16) []byte {
				body := append(u24(len(der)+1000), append(u24(len(der)), der...)...)
				return hsRecord(handshake(11, body))
			})},
		{name: "dh-prime-0-bits", stage: "key-exchange", errs: []string{"DH prime of 0 bits"},
			behave: flight(func(uint16) []byte {
				return append(cert, hsRecord(dheKeyExchange(make([]byte, 256)), helloDone())...)
			})},
		{name: "dh-prime-empty", stage: "key-exchange", errs: []string{"DH prime of 0 bits"},
			behave: flight(func(uint16) []byte {
				return append(cert, hsRecord(dheKeyExchange(nil), helloDone())...)
			})},
		{name: "dh-prime-16385-bits", stage: "key-exchange", errs: []string{"DH prime of 16385 bits", "too large"}, memory: true,
			behave: flight(func(uint16) []byte {
				return append(cert, hsRecord(dheKeyExchange(bigPrime), helloDone())...)
			})},
		{name: "out-of-order-done-before-certificate", stage: "certificate", errs: []string{"server_hello_done", "unexpected message"},
			behave: flight(func(uint16) []byte { return hsRecord(helloDone()) })},
		{name: "out-of-order-key-exchange-before-certificate", stage: "certificate", errs: []string{"server_key_exchange", "unexpected message"},
			behave: flight(func(uint16) []byte { return hsRecord(dheKeyExchange(goodPrime)) })},
		{name: "out-of-order-second-server-hello", stage: "key-exchange", errs: []string{"server_hello", "unexpected message"},
			behave: flight(func(suite uint16) []byte { return append(cert, hsRecord(serverHello(suite))...) })},
		// An alert is a refusal: the probe tries TLS 1.3 and a hello with every
		// suite, then reports both refusals (stage "negotiate"); the error
		// names the stage each refusal came at.
		{name: "alert-after-server-hello", stage: stage.Negotiate, errs: []string{"certificate: server sent fatal alert handshake_failure"},
			behave: flight(func(uint16) []byte { return alert(2, 40) })},
		{name: "alert-after-certificate", stage: stage.Negotiate, errs: []string{"key-exchange: server sent fatal alert internal_error"},
			behave: flight(func(uint16) []byte { return append(cert, alert(2, 80)...) })},
		{name: "alert-after-server-key-exchange", stage: stage.Negotiate, errs: []string{"server-hello-done: server sent fatal alert decode_error"},
			behave: flight(func(uint16) []byte {
				return append(append(cert, hsRecord(dheKeyExchange(goodPrime))...), alert(2, 50)...)
			})},
		{name: "reset-mid-record", stage: "tls-record", errs: []string{"connection reset"},
			behave: func(c *zooConn) {
				if suite, ok := c.tlsStart(); ok {
					sh := hsRecord(serverHello(suite))
					c.send(sh[:len(sh)/2])
					time.Sleep(50 * time.Millisecond) // let the half record arrive before the RST
					c.reset()
				}
			}},
		{name: "reset-after-certificate", stage: "tls-record", errs: []string{"connection reset"},
			behave: func(c *zooConn) {
				if suite, ok := c.tlsStart(); ok {
					c.send(append(hsRecord(serverHello(suite)), cert...))
					time.Sleep(50 * time.Millisecond)
					c.reset()
				}
			}},
	}
}

// TestZooControl: the zoo's framing is right. A well-behaved zoo server is
// read to the end (outcome ok, the certificate's key and the prime's size),
// so every failure of TestZoo is the hostile part's doing.
func TestZooControl(t *testing.T) {
	der := rsa2048DER(t)
	for _, bits := range []int{2048, 768} {
		t.Run(fmt.Sprint("dhe-", bits), func(t *testing.T) {
			t.Parallel()
			s := startZoo(t, func(c *zooConn) {
				if suite, ok := c.tlsStart(); ok {
					c.send(hsRecord(serverHello(suite), certificateMsg(der), dheKeyExchange(prime(bits)), helloDone()))
					c.drain()
				}
			})
			r := zooProbe(s)
			want := verdict.None
			if bits < 1024 {
				want = verdict.TLSExport
			}
			if v := (verdict.Policy{}).Of(&r); r.Outcome != probe.OK || v != want || r.KeyType != "RSA" || r.KeyBits != 2048 || r.DHBits != bits {
				t.Errorf("got %+v (verdict %q), want ok, %q, with an RSA-2048 key and a %d-bit prime", r, v, want, bits)
			}
		})
	}
}

func zooProbe(s *zooServer) probe.Facts {
	o := probe.Options{Timeout: zooTimeout, HELO: "probe.zoo.test"}
	return probe.Addr(context.Background(), s.addr, o)
}

// zooFigure is what one case measured.
type zooFigure struct {
	name     string
	stage    stage.Stage
	took     time.Duration
	leftover int // goroutines of the probe still alive after it returned
	conns    int32
}

// TestZoo runs the probe against every hostile behaviour at once. Each must
// end as an error naming the expected stage, within the probe timeout plus
// a second, leaving no goroutine of the probe behind; once all are done, the
// process is back to its goroutine count from before.
func TestZoo(t *testing.T) {
	der := rsa2048DER(t)
	cases := zooCases(der)
	if len(cases) < 20 {
		t.Fatalf("%d behaviours, want at least 20", len(cases))
	}
	// The leak check can fail: a goroutine started under a label is counted.
	release := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels("zoo", "self-check"), func(context.Context) {
		go func() { <-release }()
	})
	if n := labelledGoroutines("zoo", "self-check"); n != 1 {
		t.Fatalf("self-check: %d labelled goroutines counted, want 1", n)
	}
	close(release)
	if n := settle(func() int { return labelledGoroutines("zoo", "self-check") }, 0); n != 0 {
		t.Fatalf("self-check: %d labelled goroutines after they ended", n)
	}
	before := runtime.NumGoroutine()
	var (
		mu      sync.Mutex
		figures []zooFigure
	)
	t.Run("group", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := startZoo(t, tc.behave)
				var r probe.Facts
				var took time.Duration
				// The probe runs under a label that every goroutine it starts
				// inherits, so that those left behind can be counted.
				pprof.Do(context.Background(), pprof.Labels("zoo", tc.name), func(context.Context) {
					start := time.Now()
					r = zooProbe(s)
					took = time.Since(start)
				})
				t.Logf("%s: %s at %q after %v: %s", tc.name, r.Outcome, r.Stage, took.Round(time.Millisecond), r.Error)
				if r.Outcome != probe.Error || r.Stage != tc.stage {
					t.Errorf("outcome %q at stage %q, want error at %q (error %q)", r.Outcome, r.Stage, tc.stage, r.Error)
				}
				for _, e := range tc.errs {
					if !strings.Contains(r.Error, e) {
						t.Errorf("error %q does not say %q", r.Error, e)
					}
				}
				if took > zooTimeout+time.Second {
					t.Errorf("probe took %v, want at most the %v timeout + 1s", took, zooTimeout)
				}
				left := settle(func() int { return labelledGoroutines("zoo", tc.name) }, 0)
				if left != 0 {
					t.Errorf("%d goroutines of the probe still alive after it returned", left)
				}
				mu.Lock()
				figures = append(figures, zooFigure{tc.name, r.Stage, took, left, s.accepts.Load()})
				mu.Unlock()
			})
		}
	})
	after := settle(runtime.NumGoroutine, before)
	slices.SortFunc(figures, func(a, b zooFigure) int { return strings.Compare(a.name, b.name) })
	for _, f := range figures {
		t.Logf("figure: %-45s stage=%-18s took=%-7v conns=%d goroutines_left=%d", f.name, f.stage, f.took.Round(time.Millisecond), f.conns, f.leftover)
	}
	t.Logf("figure: %d behaviours; goroutines before %d, after %d", len(figures), before, after)
	if after > before {
		t.Errorf("%d goroutines after the zoo, %d before", after, before)
	}
}

// settle polls count for up to 5 s until it is at most want, and returns
// the last count.
func settle(count func() int, want int) int {
	n := count()
	for deadline := time.Now().Add(5 * time.Second); n > want && time.Now().Before(deadline); n = count() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestZooMemory: the behaviours that send a lot (a 1 MB line, endless
// continuations, records and handshakes claiming 64 KB and 16 MB, a 16385-bit
// prime, floods of records that carry nothing) cost the probe a bounded
// amount of memory. Each runs alone (not in parallel) so that the process's
// allocation counter is the probe's and its server's.
func TestZooMemory(t *testing.T) {
	const limit = 4 << 20
	der := rsa2048DER(t)
	for _, tc := range zooCases(der) {
		if !tc.memory {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := startZoo(t, tc.behave)
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			r := zooProbe(s)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("figure: %-45s allocated %d KB (%d mallocs): %s at %s", tc.name, alloc>>10, m1.Mallocs-m0.Mallocs, r.Outcome, r.Stage)
			if r.Outcome != probe.Error || r.Stage != tc.stage {
				t.Errorf("outcome %q at stage %q, want error at %q (%s)", r.Outcome, r.Stage, tc.stage, r.Error)
			}
			if alloc > limit {
				t.Errorf("the probe allocated %d bytes, want at most %d", alloc, limit)
			}
		})
	}
}
