// Package tlslab starts real `openssl s_server` instances on 127.0.0.1 with
// throwaway keys, for the tests and the capture tool of package tlswire. It
// only drives the openssl command line tool; it imports nothing of tlswire.
package tlslab

import (
	"bufio"
	"context"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoTool: a needed command is not installed.
var ErrNoTool = errors.New("tool not installed")

// Need returns ErrNoTool (wrapped, naming them) when a tool is missing.
func Need(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if missing != nil {
		return fmt.Errorf("%s: %w", strings.Join(missing, ", "), ErrNoTool)
	}
	return nil
}

// Cert makes (once per dir) a self-signed certificate and key named kind in
// dir: "rsa2048", "rsa1024", "dsa2048", "dsa1024", "ecp256", "ed25519".
// It returns the certificate and key paths.
func Cert(ctx context.Context, dir, kind string) (string, string, error) {
	crt, key := filepath.Join(dir, kind+".crt"), filepath.Join(dir, kind+".key")
	if _, err := os.Stat(crt); err == nil {
		return crt, key, nil
	}
	var newkey []string
	switch kind {
	case "rsa2048", "rsa1024":
		newkey = []string{"-newkey", "rsa:" + strings.TrimPrefix(kind, "rsa")}
	case "dsa2048", "dsa1024":
		params := filepath.Join(dir, kind+".params")
		bits := strings.TrimPrefix(kind, "dsa")
		if err := run(ctx, "openssl", "genpkey", "-genparam", "-algorithm", "DSA",
			"-pkeyopt", "dsa_paramgen_bits:"+bits, "-pkeyopt", "dsa_paramgen_q_bits:"+map[string]string{"1024": "160", "2048": "256"}[bits],
			"-out", params); err != nil {
			return "", "", err
		}
		newkey = []string{"-newkey", "dsa:" + params}
	case "ecp256":
		newkey = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"}
	case "ed25519":
		newkey = []string{"-newkey", "ed25519"}
	default:
		return "", "", fmt.Errorf("unknown key kind %q", kind)
	}
	args := append([]string{"req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=" + kind + ".tlswire.test"}, newkey...)
	args = append(args, "-keyout", key, "-out", crt)
	if kind == "dsa1024" || kind == "dsa2048" {
		args = append(args, "-sha256")
	}
	if err := run(ctx, "openssl", args...); err != nil {
		return "", "", err
	}
	return crt, key, nil
}

// DH makes (once per dir) a PKCS #3 DH parameter file with a prime of the
// given size. It uses DSA-style generation (-dsaparam), which is fast, and
// rewrites the X9.42 file OpenSSL 3 writes as PKCS #3 ("DH PARAMETERS"):
// s_server -dhparam silently ignores X9.42 files and falls back to its
// built-in primes.
func DH(ctx context.Context, dir string, bits int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("dh%d.pem", bits))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	x942 := path + ".x942"
	if err := run(ctx, "openssl", "dhparam", "-dsaparam", "-out", x942, strconv.Itoa(bits)); err != nil {
		return "", err
	}
	data, err := os.ReadFile(x942)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("%s: no PEM block", x942)
	}
	// X9.42 DomainParameters ::= SEQUENCE { p, g, q, ... } (RFC 3279 2.3.3)
	var params struct {
		P, G *big.Int
		Rest []asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(block.Bytes, &params); err != nil {
		return "", fmt.Errorf("%s: %w", x942, err)
	}
	der, err := asn1.Marshal(struct{ P, G *big.Int }{params.P, params.G}) // PKCS #3 DHParameter
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: der}), 0o600)
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Server is a running openssl s_server.
type Server struct {
	Addr  string // 127.0.0.1:port
	cmd   *exec.Cmd
	out   *strings.Builder
	stdin io.Closer
}

// StartSServer runs `openssl s_server -accept 127.0.0.1:PORT -naccept 1` plus
// args, and returns once it accepts connections. Stop it with Stop.
func StartSServer(ctx context.Context, args ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := append([]string{"s_server", "-accept", addr, "-naccept", "1"}, args...)
	cmd := exec.CommandContext(ctx, "openssl", argv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// s_server hangs up when its stdin ends: keep a pipe open until Stop.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, cmd: cmd, out: stderr, stdin: stdin}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ACCEPT") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- errors.New("s_server exited before ACCEPT")
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("s_server not ready after 30s")
	}
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("openssl %s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return s, nil
}

// Stop kills the server (if still running) and waits for it.
func (s *Server) Stop() {
	_ = s.stdin.Close()
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	_ = s.cmd.Wait()
}

// Stderr is what the server wrote to stderr so far (for failure messages).
// Call it after Stop.
func (s *Server) Stderr() string { return s.out.String() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
