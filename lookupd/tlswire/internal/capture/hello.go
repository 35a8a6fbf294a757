package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// helloClient is one real client invocation; "PORT" in args is replaced by the
// stub's port. prepare, if set, builds the command instead (Exim needs a
// configuration and a spool).
type helloClient struct {
	file    string
	args    []string
	prepare func(port string) (argv []string, stdin string, cleanup func(), err error)
}

var helloClients = []helloClient{
	{"gnutls-3.7.9-normal.bin", []string{"gnutls-cli", "--priority", "NORMAL", "--starttls-proto=smtp", "--insecure", "-p", "PORT", "127.0.0.1"}, nil},
	{"gnutls-3.7.9-normal-sni.bin", []string{"gnutls-cli", "--priority", "NORMAL", "--starttls-proto=smtp", "--insecure", "--sni-hostname", "mx.example.test", "-p", "PORT", "127.0.0.1"}, nil},
	{"gnutls-3.7.9-normal-tls12.bin", []string{"gnutls-cli", "--priority", "NORMAL:-VERS-TLS1.3", "--starttls-proto=smtp", "--insecure", "-p", "PORT", "127.0.0.1"}, nil},
	{"openssl-3.0-s_client.bin", []string{"openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:PORT"}, nil},
	{"openssl-3.0-s_client-sni.bin", []string{"openssl", "s_client", "-starttls", "smtp", "-servername", "mx.example.test", "-connect", "127.0.0.1:PORT"}, nil},
	{"openssl-3.0-s_client-tls12.bin", []string{"openssl", "s_client", "-starttls", "smtp", "-no_tls1_3", "-connect", "127.0.0.1:PORT"}, nil},
	{"openssl-3.0-s_client-tls12-nodhe.bin", []string{"openssl", "s_client", "-starttls", "smtp", "-no_tls1_3", "-cipher", "DEFAULT:!kDHE", "-connect", "127.0.0.1:PORT"}, nil},
	{"exim-4.96-gnutls-3.7.9.bin", nil, eximClient},
}

// eximConf makes Exim deliver everything to 127.0.0.1:PORT over SMTP with its
// default TLS client settings (tls_require_ciphers unset: GnuTLS "NORMAL").
const eximConf = `primary_hostname = capture.test
spool_directory = DIR/spool
log_file_path = DIR/spool/%slog
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
begin routers
r:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  transport = t
  self = send
begin transports
t:
  driver = smtp
  port = PORT
  allow_localhost
begin retry
* * F,1m,1m
`

// eximClient runs `exim4 -C CONF -odf` as root (Exim drops to Debian-exim,
// which must own the spool) to deliver one message to the stub.
func eximClient(port string) ([]string, string, func(), error) {
	dir, err := os.MkdirTemp("", "tlswire-exim-")
	if err != nil {
		return nil, "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	conf := filepath.Join(dir, "exim.conf")
	text := strings.NewReplacer("DIR", dir, "PORT", port).Replace(eximConf)
	// The configuration must belong to root; the spool to Debian-exim.
	spool := filepath.Join(dir, "spool")
	err = os.Chmod(dir, 0o755)
	if err == nil {
		err = os.Mkdir(spool, 0o755)
	}
	if err == nil {
		err = os.WriteFile(conf, []byte(text), 0o644)
	}
	if err == nil {
		err = exec.Command("chown", "Debian-exim:Debian-exim", spool).Run()
	}
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	argv := []string{"exim4", "-C", conf, "-odf", "-oi", "-f", "<>", "user@example.test"}
	return argv, "Subject: tlswire capture\n\nx\n", cleanup, nil
}

// captureHello runs the stub, drives the client and writes the hello bytes to out.
func captureHello(c helloClient, out string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	argv := make([]string, len(c.args))
	for i, a := range c.args {
		argv[i] = strings.ReplaceAll(a, "PORT", port)
	}
	stdin := ""
	if c.prepare != nil {
		var cleanup func()
		if argv, stdin, cleanup, err = c.prepare(port); err != nil {
			return err
		}
		defer cleanup()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var output strings.Builder
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait() //nolint:errcheck // the client fails on our alert by design
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return err
	}
	conn, err := ln.Accept()
	if err != nil {
		cancel()
		_ = cmd.Wait()
		return fmt.Errorf("%s: no connection: %w: %s", argv[0], err, output.String())
	}
	defer conn.Close()
	ln.Close() // Exim retries in clear text after our alert: refuse that
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return err
	}
	hello, err := serveSTARTTLS(conn)
	if err != nil {
		return err
	}
	// fatal handshake_failure alert, TLS 1.2 record version
	if _, err := conn.Write([]byte{21, 3, 3, 0, 2, 2, 40}); err != nil {
		return err
	}
	return os.WriteFile(out, hello, 0o644)
}

// serveSTARTTLS plays an SMTP server up to STARTTLS and returns the raw TLS
// records that carry the client's first handshake message.
func serveSTARTTLS(conn net.Conn) ([]byte, error) {
	br := bufio.NewReader(conn)
	say := func(s string) error { _, err := io.WriteString(conn, s); return err }
	if err := say("220 capture.test ESMTP stub\r\n"); err != nil {
		return nil, err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("read command: %w", err)
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			err = say("250-capture.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
		case cmd == "STARTTLS":
			if err := say("220 2.0.0 ready\r\n"); err != nil {
				return nil, err
			}
			return readHelloRecords(br)
		case cmd == "QUIT":
			return nil, errors.New("client quit before STARTTLS")
		default:
			err = say("500 5.5.1 unknown\r\n")
		}
		if err != nil {
			return nil, err
		}
	}
}

// readHelloRecords reads whole records until one handshake message is complete.
func readHelloRecords(r io.Reader) ([]byte, error) {
	var raw, hs []byte
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, fmt.Errorf("read record header: %w", err)
		}
		if hdr[0] != 22 {
			return nil, fmt.Errorf("record type %d, want handshake", hdr[0])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n > 1<<14 {
			return nil, fmt.Errorf("record length %d", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("read record body: %w", err)
		}
		raw = append(raw, hdr...)
		raw = append(raw, body...)
		hs = append(hs, body...)
		if len(hs) >= 4 && len(hs) >= 4+(int(hs[1])<<16|int(hs[2])<<8|int(hs[3])) {
			return raw, nil
		}
		if len(raw) > 1<<16 {
			return nil, errors.New("hello too large")
		}
	}
}
