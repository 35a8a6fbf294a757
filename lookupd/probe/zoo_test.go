package probe_test

import (
	"bufio"
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// The zoo: hostile SMTP/TLS servers written in Go for hostile_test.go. Each
// zoo server listens on 127.0.0.1, runs its behaviour on every connection it
// accepts, and is stopped (listener, connections and handler goroutines) by
// t.Cleanup.

// zooServer is one hostile server.
type zooServer struct {
	addr    netip.AddrPort
	accepts atomic.Int32
}

// zooConn is one accepted connection with the helpers behaviours use.
type zooConn struct {
	net.Conn
	r    *bufio.Reader
	stop <-chan struct{} // closed when the server stops
}

// startZoo starts a server running behave on each connection. A behaviour
// returns when it is done or when the connection fails; the connection is
// then closed. Every connection has a 30 s deadline as a backstop.
func startZoo(t testing.TB, behave func(c *zooConn)) *zooServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &zooServer{addr: netip.MustParseAddrPort(ln.Addr().String())}
	stop := make(chan struct{})
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				behave(&zooConn{Conn: c, r: bufio.NewReaderSize(c, 4096), stop: stop})
			})
		}
	})
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// send writes b; false when the connection is gone.
func (c *zooConn) send(b []byte) bool {
	_, err := c.Write(b)
	return err == nil
}

func (c *zooConn) say(s string) bool { return c.send([]byte(s)) }

// line reads one command line (the probe's EHLO or STARTTLS).
func (c *zooConn) line() (string, bool) {
	l, err := c.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err == nil
}

// sleep waits d unless the server stops first.
func (c *zooConn) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-c.stop:
		return false
	}
}

// hold keeps the connection open, reading nothing and writing nothing,
// until the server stops.
func (c *zooConn) hold() { <-c.stop }

// drain reads until the peer closes or the server stops.
func (c *zooConn) drain() { io.Copy(io.Discard, c.r) }

// reset aborts the connection with a TCP RST.
func (c *zooConn) reset() {
	c.Conn.(*net.TCPConn).SetLinger(0)
	c.Conn.Close()
}

// banner sends a one-line greeting.
func (c *zooConn) banner() bool { return c.say("220 mx.zoo.test ESMTP zoo\r\n") }

// ehlo reads the EHLO command and answers with STARTTLS advertised.
func (c *zooConn) ehlo() bool {
	l, ok := c.line()
	if !ok || !strings.HasPrefix(strings.ToUpper(l), "EHLO ") {
		return false
	}
	return c.say("250-mx.zoo.test hello\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
}

// readStartTLS reads the STARTTLS command.
func (c *zooConn) readStartTLS() bool {
	l, ok := c.line()
	return ok && strings.EqualFold(l, "STARTTLS")
}

// smtp runs a well-behaved dialogue up to the 220 answer to STARTTLS.
func (c *zooConn) smtp() bool {
	return c.banner() && c.ehlo() && c.readStartTLS() && c.say("220 2.0.0 go ahead\r\n")
}

// readHello reads the client's ClientHello record and returns the cipher
// suites it offers.
func (c *zooConn) readHello() ([]uint16, bool) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil || hdr[0] != recHandshake {
		return nil, false
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, false
	}
	s := cryptobyte.String(body)
	var typ uint8
	var msg, sessionID, suites cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&msg) ||
		!msg.Skip(2+32) || !msg.ReadUint8LengthPrefixed(&sessionID) || !msg.ReadUint16LengthPrefixed(&suites) {
		return nil, false
	}
	var out []uint16
	for !suites.Empty() {
		var id uint16
		if !suites.ReadUint16(&id) {
			return nil, false
		}
		out = append(out, id)
	}
	return out, true
}

// dheSuite picks a DHE-RSA suite the client offered; 0 if none.
func dheSuite(offered []uint16) uint16 {
	for _, want := range []uint16{0x009e, 0x009f, 0x0067, 0x006b, 0x0033, 0x0039} {
		for _, id := range offered {
			if id == want {
				return id
			}
		}
	}
	return 0
}

// tlsStart runs the SMTP dialogue and reads the ClientHello; it returns the
// DHE suite to answer with. A client offering no DHE suite (crypto/tls, as
// the probe uses it for TLS 1.3) gets a handshake_failure alert.
func (c *zooConn) tlsStart() (uint16, bool) {
	if !c.smtp() {
		return 0, false
	}
	offered, ok := c.readHello()
	if !ok {
		return 0, false
	}
	suite := dheSuite(offered)
	if suite == 0 {
		c.send(alert(2, 40))
		return 0, false
	}
	return suite, true
}

// TLS record and handshake framing (RFC 5246 6.2.1, 7.4).
const (
	recAlert     = 21
	recHandshake = 22
)

func record(typ uint8, data []byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(data) >> 8), byte(len(data))}, data...)
}

func handshake(typ uint8, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// hsRecord wraps handshake messages in one record.
func hsRecord(msgs ...[]byte) []byte { return record(recHandshake, bytes.Join(msgs, nil)) }

func alert(level, desc uint8) []byte { return record(recAlert, []byte{level, desc}) }

// serverHello is a TLS 1.2 ServerHello choosing suite, without extensions.
func serverHello(suite uint16) []byte {
	b := []byte{3, 3}
	for i := range 32 {
		b = append(b, byte(0x40+i)) // no downgrade sentinel
	}
	b = append(b, 0, byte(suite>>8), byte(suite), 0)
	return handshake(2, b)
}

func u24(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }

// certificateMsg is a Certificate message holding ders.
func certificateMsg(ders ...[]byte) []byte {
	var list []byte
	for _, d := range ders {
		list = append(append(list, u24(len(d))...), d...)
	}
	return handshake(11, append(u24(len(list)), list...))
}

func u16Prefixed(b []byte) []byte { return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...) }

// dheKeyExchange is a TLS 1.2 DHE ServerKeyExchange with prime p,
// generator 2, a public value and an (unchecked) RSA signature.
func dheKeyExchange(p []byte) []byte {
	ys := bytes.Repeat([]byte{0x5a}, max(len(p), 1))
	var b []byte
	b = append(b, u16Prefixed(p)...)
	b = append(b, u16Prefixed([]byte{2})...)
	b = append(b, u16Prefixed(ys)...)
	b = append(b, 0x04, 0x01) // rsa_pkcs1_sha256
	b = append(b, u16Prefixed(bytes.Repeat([]byte{0x33}, 256))...)
	return handshake(12, b)
}

func helloDone() []byte { return handshake(14, nil) }

// prime returns a big-endian number of exactly bits bits (odd; primality
// is not the parser's business).
func prime(bits int) []byte {
	n := (bits + 7) / 8
	p := bytes.Repeat([]byte{0xc5}, n)
	top := bits - (n-1)*8 // bits in the first byte
	p[0] = 1 << (top - 1)
	p[n-1] |= 1
	return p
}

var (
	certOnce sync.Once
	certDER  []byte
	certErr  error
)

// rsa2048DER is the DER of testdata/certs/rsa2048.crt.
func rsa2048DER(t testing.TB) []byte {
	t.Helper()
	certOnce.Do(func() {
		var b []byte
		if b, certErr = os.ReadFile(lab.Testdata(t, "certs/rsa2048.crt")); certErr != nil {
			return
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			certErr = errors.New("rsa2048.crt: no PEM block")
			return
		}
		certDER = blk.Bytes
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return certDER
}

// labelledGoroutines counts the live goroutines carrying pprof label
// key=value (goroutines inherit their creator's labels).
func labelledGoroutines(key, value string) int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	want := fmt.Sprintf("%q:%q", key, value)
	n := 0
	for _, block := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(block, "# labels: {") || !strings.Contains(block, want) {
			continue
		}
		for _, l := range strings.Split(block, "\n") {
			count, rest, _ := strings.Cut(l, " ")
			if c, err := strconv.Atoi(count); err == nil && strings.HasPrefix(rest, "@ ") {
				n += c
				break
			}
		}
	}
	return n
}
