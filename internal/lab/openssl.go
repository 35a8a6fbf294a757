package lab

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// OpenSSLOptions configure StartOpenSSL. Zero values give a modern OpenSSL 3
// server: RSA-2048 certificate, OpenSSL's own DH choice, cipher list DEFAULT,
// TLS 1.0-1.3 allowed, STARTTLS advertised.
type OpenSSLOptions struct {
	// Cert names testdata/certs/<Cert>.{crt,key}: "rsa1024", "rsa2048" (default),
	// "dsa1024", "ecp256".
	Cert string
	// DH names testdata/certs/<DH>.pem ("dh512", "dh768", "dh1024", "dh2048"),
	// sent as is to every DHE client. "" leaves OpenSSL's automatic choice
	// (a 2048-bit or larger RFC 7919/3526 group).
	DH string
	// Ciphers is the TLS <= 1.2 cipher list, always run at @SECLEVEL=0.
	// "" = "DEFAULT", except for the dsa1024 certificate, for which DEFAULT
	// holds no usable suite: "ALL:!aNULL:!eNULL". To force DHE use "kDHE".
	Ciphers string
	// ServerPreference picks the TLS <= 1.2 suite in Ciphers order, not in
	// the client's: with "kDHE:kECDHE" a server that prefers DHE but also
	// has ECDHE.
	ServerPreference bool
	// Ciphersuites is the TLS 1.3 suite list; "" = OpenSSL's default.
	Ciphersuites string
	// MinTLS and MaxTLS bound the protocol version: "1.0", "1.1", "1.2", "1.3"; "" = no bound.
	MinTLS, MaxTLS string
	// NoSTARTTLS: do not advertise STARTTLS; answer it with 502.
	NoSTARTTLS bool
	// StartTLSReply answers STARTTLS with this line (e.g. "454 4.7.0 TLS not
	// available"); a 2xx reply still starts TLS. "" = "220 2.0.0 ready to start TLS".
	StartTLSReply string
	// Banner lines, each a full reply line with its code ("220-mx.test hi",
	// "220 mx.test ESMTP"). Default: one "220 mx.test ESMTP smtptls" line. If the
	// first line starts with 4 or 5, every later command but QUIT gets 503.
	Banner []string
	// BannerDelay is waited before the banner is sent.
	BannerDelay time.Duration
	// Listen is the address to serve on, "127.0.0.N:PORT"; "" = a free port
	// on 127.0.0.1. See EximOptions.Listen.
	Listen string
}

// fixtureTimeout is the smtptls per-connection time limit.
const fixtureTimeout = 120 * time.Second

// StartOpenSSL starts testdata/fixtures/smtptls.c, an OpenSSL 3 SMTP server
// whose security callback allows everything (so 512- and 768-bit DHE really
// happen), on a fresh 127.0.0.1 port. The listening socket is created here
// and handed to the fixture as fd 3, so there is no port race. The fixture's
// log (one line per connection: version, cipher, DH size) goes to t.Log.
// Needs gcc and libssl-dev: the fixture is built once per test binary.
func StartOpenSSL(t testing.TB, o OpenSSLOptions) *Server {
	t.Helper()
	bin := FixtureBinary(t)

	if o.Cert == "" {
		o.Cert = "rsa2048"
	}
	args := []string{"-fd", "3", "-timeout", strconv.Itoa(int(fixtureTimeout / time.Second))}
	args = append(args, "-cert", certFile(t, o.Cert+".crt"), "-key", certFile(t, o.Cert+".key"))
	if o.DH != "" {
		args = append(args, "-dh", certFile(t, o.DH+".pem"))
	}
	ciphers := o.Ciphers
	if ciphers == "" && o.Cert == "dsa1024" {
		ciphers = "ALL:!aNULL:!eNULL"
	}
	for _, a := range [][2]string{
		{"-ciphers", ciphers}, {"-ciphersuites", o.Ciphersuites},
		{"-min", o.MinTLS}, {"-max", o.MaxTLS}, {"-starttls-reply", o.StartTLSReply},
	} {
		if a[1] != "" {
			args = append(args, a[0], a[1])
		}
	}
	if o.NoSTARTTLS {
		args = append(args, "-nostarttls")
	}
	if o.ServerPreference {
		args = append(args, "-serverpref")
	}
	for _, line := range o.Banner {
		args = append(args, "-banner", line)
	}
	if o.BannerDelay > 0 {
		args = append(args, "-banner-delay", strconv.FormatInt(o.BannerDelay.Milliseconds(), 10))
	}

	ip, port := listenAddr(t, o.Listen)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	lf, err := ln.(*net.TCPListener).File()
	ln.Close() // lf holds its own descriptor of the socket
	if err != nil {
		t.Fatalf("listener file: %v", err)
	}
	defer lf.Close() // the child has its copy

	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	ready, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("smtptls stdout: %v", err)
	}
	p, err := startProc(t, "", cmd) // the fixture prefixes its lines
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ready, p, 10*time.Second); err != nil {
		t.Fatalf("start smtptls %v: %v", args, err)
	}
	// Drain stdout so the fixture never blocks on it.
	go func() { _, _ = io.Copy(io.Discard, ready) }()
	return &Server{Addr: addr}
}

// waitReady waits for the fixture's "READY" line.
func waitReady(r io.Reader, p *proc, timeout time.Duration) error {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s == "READY\n" {
			return nil
		}
		<-p.done
		return fmt.Errorf("exited before ready: %v (its log is above)", p.err)
	case <-time.After(timeout):
		return fmt.Errorf("not ready after %v", timeout)
	}
}

// certFile returns the path of testdata/certs/name, failing the test if absent.
func certFile(t testing.TB, name string) string {
	t.Helper()
	p := Testdata(t, "certs/"+name)
	if !isFile(p) {
		t.Fatalf("no test certificate file %s (known: rsa1024, rsa2048, dsa1024, ecp256; dh512, dh768, dh1024, dh2048)", p)
	}
	return p
}

var fixture struct {
	once sync.Once
	path string
	err  error
}

// FixtureBinary compiles smtptls.c once per test binary into a cache in
// os.TempDir keyed by the source's hash, so parallel test binaries share it:
// each builds to a temporary name and renames it into place.
func FixtureBinary(t testing.TB) string {
	t.Helper()
	Require(t, "gcc")
	fixture.once.Do(func() { fixture.path, fixture.err = compileFixture(Testdata(t, "fixtures/smtptls.c")) })
	if fixture.err != nil {
		t.Fatalf("build smtptls fixture: %v", fixture.err)
	}
	return fixture.path
}

var gccArgs = []string{"-O2", "-Wall", "-o"} // then: out src -lssl -lcrypto

func compileFixture(src string) (string, error) {
	code, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(code)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("exim-tlsprobe-lab-%d", os.Geteuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := checkPrivateDir(dir); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "smtptls-"+hex.EncodeToString(sum[:8]))
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o100 != 0 {
		return out, nil
	}
	tmp, err := os.CreateTemp(dir, "smtptls-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append(append([]string{}, gccArgs...), tmp.Name(), src), "-lssl", "-lcrypto")
	if msg, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc %v: %w\n%s(is libssl-dev installed?)", args, err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// checkPrivateDir refuses a cache directory someone else could plant a binary in.
func checkPrivateDir(dir string) error {
	if err := checkOwned(dir, os.Geteuid(), true); err != nil {
		return errors.New(dir + ": not a directory owned by us and writable only by us")
	}
	return nil
}

// checkOwned refuses a file or directory (only a directory if dirOnly) that
// is not owned by uid or that others may write: someone else could have
// replaced what it holds.
func checkOwned(p string, uid int, dirOnly bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	kind := fi.IsDir() || (!dirOnly && fi.Mode().IsRegular())
	if !kind || !ok || int(st.Uid) != uid || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: not owned by uid %d and writable only by it", p, uid)
	}
	return nil
}
