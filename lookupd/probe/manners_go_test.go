package probe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// goServer is an SMTP server with STARTTLS by crypto/tls: it counts
// connections and keeps every handshake error and every command it read.
type goServer struct {
	ln   net.Listener
	mu   sync.Mutex
	errs []string
	cmds []string
	wg   sync.WaitGroup
}

func startGoServer(t *testing.T, cfg *tls.Config) *goServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &goServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c, cfg) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *goServer) note(list *[]string, v string) {
	s.mu.Lock()
	*list = append(*list, v)
	s.mu.Unlock()
}

func (s *goServer) serve(c net.Conn, cfg *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	put := func(l string) { conn.Write([]byte(l + "\r\n")) }
	put("220 go.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		s.note(&s.cmds, cmd)
		switch verb := strings.ToUpper(strings.Fields(cmd + " x")[0]); verb {
		case "EHLO":
			put("250-go.test")
			if _, ok := conn.(*tls.Conn); !ok {
				put("250-STARTTLS")
			}
			put("250 HELP")
		case "STARTTLS":
			put("220 go ahead")
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				s.note(&s.errs, err.Error())
				return
			}
			conn, r = tc, bufio.NewReader(tc)
		case "QUIT":
			put("221 bye")
			if tc, ok := conn.(*tls.Conn); ok {
				tc.Close()
			}
			return
		default:
			put("500 what")
		}
	}
}

func (s *goServer) wait() (errs, cmds []string) {
	s.ln.Close()
	s.wg.Wait()
	return s.errs, s.cmds
}

// TestMannersGoServer: a crypto/tls server sees, for TLS 1.3, one session
// with EHLO, STARTTLS, EHLO, QUIT and no handshake error; for TLS 1.2
// (ECDHE), the clean session and the modelled hello's, whose handshake the
// probe completes (tlswire.Complete; crypto/tls checks its Finished): two
// sessions of EHLO, STARTTLS, EHLO inside TLS, QUIT, no handshake error.
func TestMannersGoServer(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	certs := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "certs")
	cert, err := tls.LoadX509KeyPair(filepath.Join(certs, "rsa2048.crt"), filepath.Join(certs, "rsa2048.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		max      uint16
		conns    int
		wantErrs []string
	}{
		{"tls13", tls.VersionTLS13, 1, nil},
		{"tls12", tls.VersionTLS12, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startGoServer(t, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tc.max})
			f := probe.Addr(context.Background(), netip.MustParseAddrPort(s.ln.Addr().String()), probe.Options{HELO: "probe.test", Timeout: 20 * time.Second})
			t.Logf("facts %+v", f)
			if f.Outcome != probe.OK || f.KeyBits != 2048 {
				t.Errorf("outcome %s, key %d bits", f.Outcome, f.KeyBits)
			}
			errs, cmds := s.wait()
			t.Logf("server: handshake errors %q, commands %q", errs, cmds)
			if strings.Join(errs, "|") != strings.Join(tc.wantErrs, "|") {
				t.Errorf("handshake errors %q, want %q", errs, tc.wantErrs)
			}
			if strings.Count(strings.Join(cmds, "\n"), "STARTTLS") != tc.conns {
				t.Errorf("%d STARTTLS (connections), want %d", strings.Count(strings.Join(cmds, "\n"), "STARTTLS"), tc.conns)
			}
			var want []string
			for range tc.conns {
				want = append(want, "EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT")
			}
			if strings.Join(cmds, "|") != strings.Join(want, "|") {
				t.Errorf("sessions %q, want %q", cmds, want)
			}
		})
	}
}
