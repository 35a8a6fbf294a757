package lookupd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// hostileConfig is a validated config whose DNS server is dns and whose
// probes go to port; edit changes it before validation.
func hostileConfig(t testing.TB, dns string, port int, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DNS.Servers = []string{dns}
	cfg.DNS.Timeout = config.Duration{Duration: 300 * time.Millisecond}
	cfg.Probe.Port = port
	cfg.Probe.HELO = "relay.test"
	cfg.Probe.Timeout = config.Duration{Duration: 2 * time.Second}
	cfg.Answer.Wait = config.Duration{Duration: 500 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// warmService returns a service whose caches know warm.test (one MX host
// with a small key, answer "smallkey"); its DNS server and probe port lead
// nowhere unless cfg says otherwise.
func warmService(t testing.TB, cfg *config.Config, log *slog.Logger) *Service {
	t.Helper()
	s, err := NewService(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	warm(s, "warm.test", "mx.warm.test", 1024)
	return s
}

// warm stores a domain with one MX host, its address 192.0.2.1 and that
// address's facts: TLS 1.2 with an RSA key of keyBits.
func warm(s *Service, domain, host string, keyBits int) {
	now := time.Now()
	st := s.st.Load()
	ap := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(st.Config.Probe.Port))
	s.domains.Set(domain, store.Domain{Set: mx.Set{Hosts: []mx.Host{{Name: host, Pref: 10}}, TTL: time.Hour}})
	s.names.Set(host, store.Name{Addrs: []netip.Addr{ap.Addr()}, TTL: time.Hour})
	f := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: keyBits, Time: now}
	s.facts.Set(store.AddrKey{AP: ap, Client: store.SymOf(st.probe.Client)}, store.NewRecord(&f))
}

// TestHostileClients: careless and hostile local clients against the real
// Service and Server. Each is bounded (size cap, read deadline), logged, and
// the next valid request is answered correctly.
func TestHostileClients(t *testing.T) {
	dns := lab.StartDNS(t, "TIMEOUT silent.test.")
	sink := &lab.LogBuffer{}
	s := warmService(t, hostileConfig(t, dns, 9, nil), sink.Logger())
	srv := &socket.Server{Handler: s, ReadTimeout: 300 * time.Millisecond, Logger: sink.Logger()}
	path := sockettest.Start(t, srv)

	garbage := make([]byte, 4096)
	rand.Read(garbage)
	// One line of binary: no LF, so it is malformed whatever the draw
	// (a short first line of printable bytes would be a "domain").
	garbage = bytes.ReplaceAll(garbage, []byte("\n"), []byte{0xff})
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) string // returns what the client read, if anything
		log    []string                  // the log line it must cause
	}{
		{"10MB-request", func(t *testing.T) string {
			return writeRaw(t, path, bytes.Repeat([]byte("a"), 10<<20), true)
		}, []string{"malformed request", "longer than 1024 bytes"}},
		{"10MB-request-with-newlines", func(t *testing.T) string {
			return writeRaw(t, path, bytes.Repeat([]byte("warm.test\n"), 1<<20), true)
		}, nil}, // the first line is a valid request: answered, the rest unread
		{"NUL-bytes", func(t *testing.T) string {
			return writeRaw(t, path, []byte("warm\x00.test\n"), true)
		}, []string{"malformed request", "control byte 0x00"}},
		{"only-NULs", func(t *testing.T) string {
			return writeRaw(t, path, make([]byte, 1000), true)
		}, []string{"malformed request", "control byte 0x00"}},
		{"binary-garbage", func(t *testing.T) string {
			return writeRaw(t, path, garbage, true)
		}, []string{"malformed request"}},
		{"connect-and-never-write", func(t *testing.T) string {
			return writeRaw(t, path, nil, false)
		}, []string{"malformed request", "i/o timeout", "bytes=0"}},
		{"half-a-line-then-stall", func(t *testing.T) string {
			return writeRaw(t, path, []byte("warm.te"), false)
		}, []string{"malformed request", "i/o timeout", "bytes=7"}},
		{"close-before-the-answer", func(t *testing.T) string {
			// explain waits answer.wait for silent.test's DNS; the client
			// does not wait for it.
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("explain silent.test\n"))
			c.Close()
			return "" // after answer.wait the write fails: the log line below
		}, []string{"answer not delivered", "broken pipe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := 0
			if tc.log != nil {
				before = sink.Count(tc.log...)
			}
			start := time.Now()
			got := tc.client(t)
			took := time.Since(start)
			if tc.name == "10MB-request-with-newlines" {
				if got != "smallkey" {
					t.Errorf("answer %q, want smallkey", got)
				}
			} else if got != "" {
				t.Errorf("answered %q, want nothing", got)
			}
			if tc.log != nil {
				// The log line may follow the close by a moment.
				lab.WaitFor(t, fmt.Sprintf("log line with %q", tc.log), func() bool { return sink.Count(tc.log...) > before })
			}
			if got := sockettest.Raw(t, path, []byte("warm.test"), true); got != "smallkey" {
				t.Errorf("next valid request: answer %q, want smallkey", got)
			}
			t.Logf("figure: %s: closed after %v", tc.name, took.Round(time.Millisecond))
		})
	}
	st := srv.Stats()
	t.Logf("figure: server stats %+v", st)
	if st.Malformed < 6 {
		t.Errorf("malformed = %d, want at least 6", st.Malformed)
	}
}

// writeRaw writes b (half-closing if asked) and reads until the server
// closes; a write the server cut short is not an error.
func writeRaw(t *testing.T, path string, b []byte, halfClose bool) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(b) > 0 {
			if _, err := c.Write(b); err != nil {
				return // the server stopped reading and closed: expected for big requests
			}
		}
		if halfClose {
			c.(*net.UnixConn).CloseWrite()
		}
	}()
	out, _ := io.ReadAll(c)
	c.Close()
	<-done
	return string(out)
}

// gateHandler holds every request until release is closed, counting how
// many it holds at once, then lets the real handler answer.
type gateHandler struct {
	inner     socket.Handler
	release   chan struct{}
	cur, peak atomic.Int64
}

func (g *gateHandler) Handle(ctx context.Context, req socket.Request) []byte {
	n := g.cur.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	defer g.cur.Add(-1)
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil
	}
	return g.inner.Handle(ctx, req)
}

// TestTenThousandConnections: 10,000 clients connect at once. The server
// holds at most MaxConns; the others are closed at once (Exim reads an empty
// answer), counted and logged without flooding the log; every connection
// the server kept gets the right answer, and so does the next request.
func TestTenThousandConnections(t *testing.T) {
	const clients, maxConns = 10000, 1000
	// Both ends of every connection live in this process: the clients' ends
	// and, at once, the held ones plus those being refused.
	sockettest.RaiseNoFile(t, clients+maxConns+1000)
	sink := &lab.LogBuffer{}
	s := warmService(t, hostileConfig(t, "127.0.0.1:9", 9, nil), sink.Logger())
	gate := &gateHandler{inner: s, release: make(chan struct{})}
	srv := &socket.Server{Handler: gate, MaxConns: maxConns, ReadTimeout: 30 * time.Second, Logger: sink.Logger()}
	path := sockettest.Start(t, srv)
	addr := &net.UnixAddr{Name: path, Net: "unix"}

	var answered, closed, wrong, dialFailed, dialed atomic.Int64
	var dialErrs sync.Map
	var dials, all sync.WaitGroup
	dials.Add(clients)
	start := time.Now()
	for range clients {
		all.Go(func() {
			c, err := net.DialUnix("unix", nil, addr)
			if err != nil {
				dialFailed.Add(1)
				dialErrs.Store(errnoOf(err), true)
				dials.Done()
				return
			}
			dialed.Add(1)
			dials.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			c.Write([]byte("warm.test"))
			c.CloseWrite()
			out, _ := io.ReadAll(c)
			switch string(out) {
			case "smallkey":
				answered.Add(1)
			case "":
				closed.Add(1)
			default:
				wrong.Add(1)
			}
		})
	}
	dials.Wait()
	// Every connection made has been accepted or refused: open the gate.
	lab.WaitFor(t, "every connection made accepted or refused", func() bool {
		st := srv.Stats()
		return int64(st.Accepted+st.Refused) >= dialed.Load()
	})
	peakHeld := gate.peak.Load()
	close(gate.release)
	all.Wait()
	took := time.Since(start)
	st := srv.Stats()
	var errs []string
	dialErrs.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return true })
	t.Logf("figure: %d clients in %v: %d connected (%d accepted, %d refused over the cap of %d), %d connect() failures %v; "+
		"%d answered, %d closed without answer, %d wrong; at most %d held at once; %d refusal log lines",
		clients, took.Round(time.Millisecond), dialed.Load(), st.Accepted, st.Refused, maxConns, dialFailed.Load(), errs,
		answered.Load(), closed.Load(), wrong.Load(), peakHeld, sink.Count("connections refused over max_conns"))

	if peakHeld > maxConns {
		t.Errorf("%d requests held at once, over MaxConns %d", peakHeld, maxConns)
	}
	if wrong.Load() != 0 {
		t.Errorf("%d wrong answers", wrong.Load())
	}
	if st.Refused == 0 || int64(st.Accepted+st.Refused) != dialed.Load() {
		t.Errorf("server accepted %d and refused %d of %d connections; want all counted, some refused", st.Accepted, st.Refused, dialed.Load())
	}
	// A connection still without its request after minWait may be evicted
	// at the cap (rare here: every client writes at once).
	if answered.Load() != int64(st.Accepted-st.Evicted) || closed.Load() != int64(st.Refused+st.Evicted) {
		t.Errorf("clients: %d answered, %d closed; server: %d accepted, %d refused, %d evicted",
			answered.Load(), closed.Load(), st.Accepted, st.Refused, st.Evicted)
	}
	if n := sink.Count("connections refused over max_conns"); n == 0 || n > int(took/time.Second)+1 {
		t.Errorf("%d refusal log lines in %v, want between 1 and one a second", n, took)
	}
	if got := sockettest.Raw(t, path, []byte("warm.test"), true); got != "smallkey" {
		t.Errorf("after the storm: answer %q, want smallkey", got)
	}
}

func errnoOf(err error) string {
	var en syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			en = x
			return en.Error()
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return err.Error()
}

// countingSMTP listens on addr ("ip:port", port 0 for any) and counts the
// connections; each gets a banner, an EHLO answer without STARTTLS (outcome
// notls, one connection per probe) and is closed.
type countingSMTP struct {
	addr netip.AddrPort
	n    atomic.Int64
}

func startCounting(t testing.TB, addr string) (*countingSMTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cs := &countingSMTP{addr: netip.MustParseAddrPort(ln.Addr().String())}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cs.n.Add(1)
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				io.WriteString(c, "220 counting.test ESMTP\r\n")
				r.ReadString('\n')
				io.WriteString(c, "250 counting.test\r\n")
				r.ReadString('\n')
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return cs, nil
}

// explain asks for a domain's explanation over the socket.
func explain(t *testing.T, path, domain string) decision.Decision {
	t.Helper()
	out := sockettest.Raw(t, path, []byte("explain "+domain+"\n"), true)
	var d decision.Decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("explain %s: %v in %q", domain, err, out)
	}
	return d
}

// TestIgnoredNetworksNeverProbed: with the default probe.ignore_networks,
// MX hosts that resolve to loopback, RFC 1918, link-local and other
// ignored addresses (directly, v4-mapped, through CNAMEs, as implicit MX)
// are never connected to, through the real request path. A control proves
// the counting server would have seen the connection.
func TestIgnoredNetworksNeverProbed(t *testing.T) {
	var v4, v6 *countingSMTP
	for range 20 {
		var err error
		if v4, err = startCounting(t, "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if v6, err = startCounting(t, fmt.Sprintf("[::1]:%d", v4.addr.Port())); err == nil {
			break
		}
		v6 = nil
	}
	if v6 == nil {
		t.Fatal("no port free on both 127.0.0.1 and ::1")
	}
	zone := []string{
		"loop.test. 60 IN MX 10 mx.loop.test.", "mx.loop.test. 60 IN A 127.0.0.1",
		"loop6.test. 60 IN MX 10 mx.loop6.test.", "mx.loop6.test. 60 IN AAAA ::1",
		"mapped.test. 60 IN MX 10 mx.mapped.test.", "mx.mapped.test. 60 IN AAAA ::ffff:127.0.0.1",
		"zero.test. 60 IN MX 10 mx.zero.test.", "mx.zero.test. 60 IN A 0.0.0.0",
		"rfc1918.test. 60 IN MX 10 mx10.rfc1918.test.", "mx10.rfc1918.test. 60 IN A 10.1.2.3",
		"rfc1918.test. 60 IN MX 20 mx192.rfc1918.test.", "mx192.rfc1918.test. 60 IN A 192.168.1.25",
		"rfc1918.test. 60 IN MX 30 mx172.rfc1918.test.", "mx172.rfc1918.test. 60 IN A 172.16.5.5",
		"rfc1918.test. 60 IN MX 40 mxll.rfc1918.test.", "mxll.rfc1918.test. 60 IN A 169.254.1.1",
		"rfc1918.test. 60 IN MX 50 mxula.rfc1918.test.", "mxula.rfc1918.test. 60 IN AAAA fd00::25",
		"rfc1918.test. 60 IN MX 60 mxfe80.rfc1918.test.", "mxfe80.rfc1918.test. 60 IN AAAA fe80::25",
		"cname.test. 60 IN MX 10 alias.cname.test.", "alias.cname.test. 60 IN CNAME mx.loop.test.",
		"implicit.test. 60 IN A 127.0.0.1",
	}
	dns := lab.StartDNS(t, zone...)
	port := int(v4.addr.Port())
	sink := &lab.LogBuffer{}
	s := warmService(t, hostileConfig(t, dns, port, nil), sink.Logger()) // default ignore_networks
	path := sockettest.Start(t, &socket.Server{Handler: s, Logger: sink.Logger()})
	for _, domain := range []string{"loop.test", "loop6.test", "mapped.test", "zero.test", "rfc1918.test", "cname.test", "implicit.test"} {
		d := explain(t, path, domain)
		s.Wait()
		d = explain(t, path, domain) // now with every probe result
		if d.Verdict != verdict.None || len(d.MX) == 0 {
			t.Errorf("%s: verdict %q with %d MX hosts", domain, d.Verdict, len(d.MX))
		}
		for _, h := range d.MX {
			if len(h.Addrs) == 0 {
				t.Errorf("%s: MX %s: no address (%s %s), want its ignored ones", domain, h.Name, h.Source, h.Note)
			}
			for _, a := range h.Addrs {
				if a.Source != decision.SourceIgnored || a.Facts != nil || a.Verdict != verdict.None {
					t.Errorf("%s: MX %s: %+v, want ignored", domain, h.Name, a)
				}
			}
			t.Logf("figure: %s MX %s: %d addresses, all ignored", domain, h.Name, len(h.Addrs))
		}
	}
	if n := v4.n.Load() + v6.n.Load(); n != 0 {
		t.Errorf("%d connections to ignored addresses", n)
	}

	// Control: the same request path with 127.0.0.0/8 allowed does connect.
	s2 := warmService(t, hostileConfig(t, dns, port, func(c *config.Config) { c.Probe.IgnoreNetworks = []string{"10.0.0.0/8"} }), sink.Logger())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s2.Decide(ctx, "loop.test")
	s2.Wait()
	if v4.n.Load() == 0 {
		t.Error("control: no connection with loopback allowed; the counter proves nothing")
	}
}

// TestRequestCannotSteerConnections: whatever a domain request holds
// (ports, IP literals, extra words, SRV records in the zone), the daemon
// connects only to port probe.port of the addresses of MX hosts.
func TestRequestCannotSteerConnections(t *testing.T) {
	legit, err := startCounting(t, "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int(legit.addr.Port())
	var decoys []*countingSMTP
	for _, a := range []string{"127.0.0.3:0", "127.0.0.1:0", fmt.Sprintf("127.0.0.4:%d", port)} {
		d, err := startCounting(t, a)
		if err != nil {
			t.Fatal(err)
		}
		decoys = append(decoys, d)
	}
	q := int(decoys[0].addr.Port())
	dns := lab.StartDNS(t,
		"steer.test. 60 IN MX 10 mx.steer.test.", "mx.steer.test. 60 IN A 127.0.0.3",
		fmt.Sprintf("_smtp._tcp.steer.test. 60 IN SRV 0 0 %d mx.steer.test.", q),
		fmt.Sprintf("_25._tcp.steer.test. 60 IN SRV 0 0 %d mx.steer.test.", q),
		"steer.test. 60 IN TXT \"port=2525\"",
		"ipname.test. 60 IN MX 10 127.0.0.4.",
	)
	sink := &lab.LogBuffer{}
	s := warmService(t, hostileConfig(t, dns, port, func(c *config.Config) { c.Probe.IgnoreNetworks = []string{"10.0.0.0/8"} }), sink.Logger())
	path := sockettest.Start(t, &socket.Server{Handler: s, Logger: sink.Logger()})
	start := time.Now()
	requests := []string{
		fmt.Sprintf("steer.test:%d", q), fmt.Sprintf("[127.0.0.3]:%d", q), fmt.Sprintf("127.0.0.3:%d", q),
		"[127.0.0.3]", "user@[127.0.0.3]", "127.0.0.3", "127.0.0.4", fmt.Sprintf("mx.steer.test:%d", q),
		fmt.Sprintf("steer.test %d", q), fmt.Sprintf("explain steer.test:%d", q), "steer.test\r\n127.0.0.1",
		"user@steer.test@127.0.0.1", "steer.test/25", "ipname.test", "http://127.0.0.3:2525/",
		"steer.test",
	}
	for _, r := range requests {
		sockettest.Raw(t, path, []byte(r), true)
	}
	s.Wait()
	for _, d := range decoys {
		if n := d.n.Load(); n != 0 {
			t.Errorf("%d connections to %s, which is not port probe.port of an MX host", n, d.addr)
		}
	}
	if legit.n.Load() == 0 {
		t.Error("no connection to the MX host of steer.test: the counters prove nothing")
	}
	s.facts.Range(func(k store.AddrKey, rec store.Record, _ time.Time) bool {
		f := rec.Facts(k)
		if f.Time.Before(start) {
			return true // warmed by the test, not probed
		}
		t.Logf("figure: probed %s: %s %s", k, f.Outcome, f.Error)
		if int(k.AP.Port()) != port {
			t.Errorf("%s probed, not at port %d", k, port)
		}
		return true
	})
	t.Logf("figure: %d requests; connections: %d to the MX host at %s, 0 elsewhere", len(requests), legit.n.Load(), legit.addr)
}

// TestDNSFailuresAnswerEmpty: a DNS server that answers SERVFAIL, one that
// never answers (for the domain, or for its MX host's address), and a
// resolver that is not there at all: each request is answered empty within
// answer.wait (plus a generous second), the failure is remembered briefly
// (the next answer comes at once), and explain says why.
func TestDNSFailuresAnswerEmpty(t *testing.T) {
	dns := lab.StartDNS(t,
		"SERVFAIL servfail.test.",
		"TIMEOUT silent.test.",
		"hosttimeout.test. 60 IN MX 10 mx.hosttimeout.test.", "TIMEOUT mx.hosttimeout.test.",
		"hostservfail.test. 60 IN MX 10 mx.hostservfail.test.", "SERVFAIL mx.hostservfail.test.",
	)
	// A resolver that reads queries and never answers.
	mute, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	const wait = 500 * time.Millisecond
	sink := &lab.LogBuffer{}
	s := warmService(t, hostileConfig(t, dns, 9, nil), sink.Logger())
	path := sockettest.Start(t, &socket.Server{Handler: s, Logger: sink.Logger()})
	sMute := warmService(t, hostileConfig(t, mute.LocalAddr().String(), 9, nil), sink.Logger())
	pathMute := sockettest.Start(t, &socket.Server{Handler: sMute, Logger: sink.Logger()})
	for _, tc := range []struct {
		path, domain, source string
		hostSource           string
	}{
		{path, "servfail.test", "dns-error", ""},
		{path, "silent.test", "dns-error", ""},
		{path, "hosttimeout.test", "mx", "dns-error"},
		{path, "hostservfail.test", "mx", "dns-error"},
		{pathMute, "anything.test", "dns-error", ""},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			start := time.Now()
			got := sockettest.Raw(t, tc.path, []byte(tc.domain), true)
			took := time.Since(start)
			if got != "" || took > wait+time.Second {
				t.Errorf("answer %q after %v, want empty within answer.wait %v (+1s)", got, took, wait)
			}
			s.Wait()
			sMute.Wait()
			start = time.Now()
			got = sockettest.Raw(t, tc.path, []byte(tc.domain), true)
			again := time.Since(start)
			if got != "" || again > wait {
				t.Errorf("second answer %q after %v, want empty at once (the failure is cached)", got, again)
			}
			d := explain(t, tc.path, tc.domain)
			t.Logf("figure: %s: first answer after %v, second after %v; explain: source %s, note %q", tc.domain,
				took.Round(time.Millisecond), again.Round(time.Millisecond), d.Source, d.Note)
			if string(d.Source) != tc.source {
				t.Errorf("explain source %q, want %q (%+v)", d.Source, tc.source, d)
			}
			if tc.hostSource != "" && (len(d.MX) != 1 || string(d.MX[0].Source) != tc.hostSource || d.MX[0].Note == "") {
				t.Errorf("explain MX %+v, want one host whose address lookup failed (%s)", d.MX, tc.hostSource)
			}
		})
	}
}
